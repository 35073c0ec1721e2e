package workflow

import (
	"fmt"
	"maps"
	"slices"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/stagebot/stagebot/internal/comments"
)

// lockFileName is Terraform's dependency lock file, in a stage's directory.
const lockFileName = ".terraform.lock.hcl"

// lockEntry is what a lock file admits of one provider: its version and
// the hashes of the packages Terraform may install for it.
type lockEntry struct {
	version string
	hashes  []string
}

// parseLock reads the provider entries of a dependency lock file (nil
// content is no file: no entries). Terraform ignores its comments,
// formatting and constraints when it installs, and so does this.
func parseLock(name string, src []byte) (map[string]lockEntry, error) {
	out := map[string]lockEntry{}
	if src == nil {
		return out, nil
	}
	f, diags := hclsyntax.ParseConfig(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, diags
	}
	body, ok := f.Body.(*hclsyntax.Body)
	if !ok {
		return nil, fmt.Errorf("%s: not native HCL", name)
	}
	for _, b := range body.Blocks {
		if b.Type != "provider" || len(b.Labels) != 1 {
			continue
		}
		var e lockEntry
		if a := b.Body.Attributes["version"]; a != nil {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.IsNull() || !v.IsKnown() || v.Type() != cty.String {
				return nil, fmt.Errorf("%s: the version of %s is not a string", name, b.Labels[0])
			}
			e.version = v.AsString()
		}
		if a := b.Body.Attributes["hashes"]; a != nil {
			v, diags := a.Expr.Value(nil)
			if diags.HasErrors() || v.IsNull() || !v.IsKnown() || !(v.Type().IsTupleType() || v.Type().IsListType()) {
				return nil, fmt.Errorf("%s: the hashes of %s are not a list", name, b.Labels[0])
			}
			for it := v.ElementIterator(); it.Next(); {
				_, h := it.Element()
				if h.IsNull() || !h.IsKnown() || h.Type() != cty.String {
					return nil, fmt.Errorf("%s: a hash of %s is not a string", name, b.Labels[0])
				}
				e.hashes = append(e.hashes, h.AsString())
			}
		}
		if _, dup := out[b.Labels[0]]; dup {
			return nil, fmt.Errorf("%s: %s has two entries", name, b.Labels[0])
		}
		out[b.Labels[0]] = e
	}
	return out, nil
}

// lockChanges are the providers whose entries differ between two lock
// files: added, removed, another version, or other hashes (which admit
// other packages). Their order does not matter.
func lockChanges(base, head map[string]lockEntry) []comments.LockChange {
	var out []comments.LockChange
	names := slices.Collect(maps.Keys(base))
	for name := range head {
		if _, ok := base[name]; !ok {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		b, inBase := base[name]
		h, inHead := head[name]
		c := comments.LockChange{Provider: name, From: b.version, To: h.version,
			HashesAdded: missing(h.hashes, b.hashes), HashesRemoved: missing(b.hashes, h.hashes)}
		if inBase && inHead && c.From == c.To && c.HashesAdded+c.HashesRemoved == 0 {
			continue
		}
		out = append(out, c)
	}
	return out
}

// missing counts the distinct items of a that b lacks.
func missing(a, b []string) int {
	in := map[string]bool{}
	for _, x := range b {
		in[x] = true
	}
	lacks := map[string]bool{}
	for _, x := range a {
		if !in[x] {
			lacks[x] = true
		}
	}
	return len(lacks)
}
