package stages

import (
	"errors"
	"fmt"
	"slices"

	"github.com/stagebot/stagebot/internal/config"
)

// detectInstances returns the instances of stage s that the changes
// affect: every instance when the stage's code, its modules or its watched
// files change; otherwise those whose own file changes. An instance whose
// file is gone comes back Removed.
func detectInstances(s config.Stage, modules []string, root string, changes []Change) ([]Affected, error) {
	names, err := s.ListInstances(root)
	var ie *config.InstanceError
	if errors.As(err, &ie) {
		return []Affected{{Stage: s, Reasons: []string{ie.File}, Files: []string{ie.File}, Problem: ie.Error()}}, nil
	}
	if err != nil {
		return nil, err
	}
	var code, codeFiles []string
	own := map[string][]string{} // instance -> its changed files
	for _, c := range changes {
		for _, p := range []string{c.Path, c.PreviousPath} {
			if p == "" {
				continue
			}
			if name, ok := s.InstanceOf(p); ok {
				if !slices.Contains(own[name], p) {
					own[name] = append(own[name], p)
				}
				continue
			}
			if r := why(s, modules, p); r != "" && !slices.Contains(code, r) {
				code = append(code, r)
				codeFiles = append(codeFiles, p)
			}
		}
	}
	var out []Affected
	for _, name := range names {
		if len(code) == 0 && own[name] == nil {
			continue
		}
		a := Affected{Stage: s.Unit(name), Reasons: slices.Clone(code), Files: slices.Clone(codeFiles)}
		for _, p := range own[name] {
			a.Reasons = append(a.Reasons, fmt.Sprintf("%s (instance file)", p))
			a.Files = append(a.Files, p)
		}
		out = append(out, a)
	}
	removed := make([]string, 0, len(own))
	for name := range own {
		if !slices.Contains(names, name) && config.ValidUnitName(config.UnitName(s.Name, name)) {
			removed = append(removed, name)
		}
	}
	slices.Sort(removed)
	for _, name := range removed {
		out = append(out, Affected{Stage: s.Unit(name), Reasons: own[name], Files: own[name], Removed: true})
	}
	return out, nil
}
