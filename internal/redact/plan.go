package redact

import (
	"encoding/json"
	"fmt"

	tfjson "github.com/hashicorp/terraform-json"
)

// PlanValues returns the values a plan marks sensitive: resource attributes
// and outputs before and after the change, and the attributes of every
// resource and data source in its prior state and planned values (a data
// source read during the plan, such as a cluster's credentials), and the
// values of the root module's sensitive variables. The plan JSON holds
// them in clear.
//
// Outputs of another state read through terraform_remote_state carry no
// sensitive mark in the plan JSON: add those from the upstream stage's
// outputs (runner.Output.Sensitive).
func PlanValues(p *tfjson.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rc := range p.ResourceChanges {
		if rc == nil || rc.Change == nil {
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
	if p.PriorState != nil {
		stateValues(p.PriorState.Values, &out)
	}
	stateValues(p.PlannedValues, &out)
	// A root module variable declared sensitive is secret wherever its
	// value goes, nonsensitive() included.
	if p.Config != nil && p.Config.RootModule != nil {
		for name, v := range p.Config.RootModule.Variables {
			if pv := p.Variables[name]; v != nil && v.Sensitive && pv != nil {
				collect(pv.Value, true, true, &out)
			}
		}
	}
	return out
}

func stateValues(v *tfjson.StateValues, out *[]string) {
	if v == nil {
		return
	}
	for _, o := range v.Outputs {
		if o != nil && o.Sensitive {
			collect(o.Value, true, true, out)
		}
	}
	var walk func(m *tfjson.StateModule)
	walk = func(m *tfjson.StateModule) {
		if m == nil {
			return
		}
		for _, r := range m.Resources {
			if r == nil || len(r.SensitiveValues) == 0 {
				continue
			}
			var mask any
			if json.Unmarshal(r.SensitiveValues, &mask) == nil {
				collect(map[string]any(r.AttributeValues), mask, false, out)
			}
		}
		for _, c := range m.ChildModules {
			walk(c)
		}
	}
	walk(v.RootModule)
}

// collect walks value alongside its sensitivity mask (true, or a map or
// list of masks) and gathers the scalar leaves that are sensitive.
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
