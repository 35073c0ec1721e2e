package comments

import (
	"encoding/json"
	"fmt"
	"slices"

	tfjson "github.com/hashicorp/terraform-json"
)

// SensitiveValues returns the values a plan marks sensitive (resource
// attributes and outputs, before and after), as strings to redact. The plan
// JSON holds them in clear; the comment must not.
func SensitiveValues(p *tfjson.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil {
			continue
		}
		collect(rc.Change.Before, rc.Change.BeforeSensitive, false, &out)
		collect(rc.Change.After, rc.Change.AfterSensitive, false, &out)
	}
	for _, oc := range p.OutputChanges {
		if oc == nil {
			continue
		}
		collect(oc.Before, oc.BeforeSensitive, false, &out)
		collect(oc.After, oc.AfterSensitive, false, &out)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// collect walks value alongside its sensitivity mask (true, or a
// map/list of masks) and gathers the scalar leaves that are sensitive.
func collect(value, mask any, sensitive bool, out *[]string) {
	if b, ok := mask.(bool); ok && b {
		sensitive = true
	}
	switch v := value.(type) {
	case map[string]any:
		m, _ := mask.(map[string]any)
		for k, child := range v {
			collect(child, m[k], sensitive, out)
		}
	case []any:
		l, _ := mask.([]any)
		for i, child := range v {
			var cm any
			if i < len(l) {
				cm = l[i]
			}
			collect(child, cm, sensitive, out)
		}
	case nil:
	default:
		if sensitive {
			*out = append(*out, scalar(v))
		}
	}
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return fmt.Sprint(v)
}
