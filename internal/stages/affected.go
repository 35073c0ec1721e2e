// Package stages decides which stages of a repository a change affects, and
// in what order they are planned and applied.
package stages

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"

	"github.com/stagebot/stagebot/internal/config"
)

// Change is one changed file; PreviousPath is set for renames.
type Change struct {
	Path         string
	PreviousPath string
}

// Affected is a stage a change touches.
type Affected struct {
	Stage config.Stage
	// Reasons says which changed files affect it and how, for the comment.
	Reasons []string
	// Files are the changed paths that affect it.
	Files []string
	// WaitingFor lists affected upstream stages: this stage cannot be
	// planned truthfully until they are applied, since their outputs may
	// change.
	WaitingFor []string
	// Removed is an instance whose file the change deletes: its destroy
	// is planned, with the file as it is on the base.
	Removed bool
	// Problem, when set, is why the stage cannot be planned at all (an
	// instance file whose name is no instance's): it is reported instead.
	Problem string
}

// Ready reports whether the stage can be planned now.
func (a Affected) Ready() bool { return len(a.WaitingFor) == 0 }

// Detect returns the stages the changes affect, in apply order. root is a
// checkout of the change, where the stages' HCL is read to find the local
// modules they call.
func Detect(repo *config.Repo, root string, changes []Change) ([]Affected, error) {
	var out []Affected
	affected := map[string]bool{}
	for _, s := range repo.Stages {
		modules, err := LocalModules(root, s.Dir)
		if err != nil {
			return nil, fmt.Errorf("stage %s: %w", s.Name, err)
		}
		if s.Instanced() {
			units, err := detectInstances(s, modules, root, changes)
			if err != nil {
				return nil, err
			}
			for _, u := range units {
				affected[u.Stage.Name] = true
			}
			out = append(out, units...)
			continue
		}
		var reasons, files []string
		for _, c := range changes {
			for _, p := range []string{c.Path, c.PreviousPath} {
				if p == "" {
					continue
				}
				if r := why(s, modules, p); r != "" && !slices.Contains(reasons, r) {
					reasons = append(reasons, r)
					files = append(files, p)
				}
			}
		}
		if len(reasons) > 0 {
			affected[s.Name] = true
			out = append(out, Affected{Stage: s, Reasons: reasons, Files: files})
		}
	}
	for i := range out {
		up := repo.Upstream(out[i].Stage.Name)
		for _, s := range repo.Stages { // apply order
			if up[s.Name] && affected[s.Name] {
				out[i].WaitingFor = append(out[i].WaitingFor, s.Name)
			}
		}
	}
	return out, nil
}

func why(s config.Stage, modules []string, p string) string {
	if under(p, s.Dir) {
		return p
	}
	for _, m := range modules {
		if under(p, m) {
			return fmt.Sprintf("%s (module %s)", p, m)
		}
	}
	for _, g := range s.Watch {
		if ok, _ := doublestar.Match(g, p); ok {
			return fmt.Sprintf("%s (watch %s)", p, g)
		}
	}
	return ""
}

func under(p, dir string) bool {
	return dir == "." || p == dir || strings.HasPrefix(p, dir+"/")
}

// LocalModules returns the repo-relative directories of the local modules a
// stage calls (source "./x" or "../x"), transitively. Remote modules are
// pinned by version in the stage's own files, so changing them changes the
// stage dir.
func LocalModules(root, dir string) ([]string, error) {
	var out []string
	seen := map[string]bool{dir: true}
	queue := []string{dir}
	for len(queue) > 0 {
		d := queue[0]
		queue = queue[1:]
		mod, diags := tfconfig.LoadModule(filepath.Join(root, filepath.FromSlash(d)))
		if diags.HasErrors() && mod == nil {
			return nil, fmt.Errorf("read %s: %s", d, diags.Error())
		}
		for _, call := range mod.ModuleCalls {
			src := call.Source
			if !strings.HasPrefix(src, "./") && !strings.HasPrefix(src, "../") {
				continue
			}
			m := path.Clean(path.Join(d, src))
			if m == ".." || strings.HasPrefix(m, "../") || seen[m] {
				continue // outside the repository, or already found
			}
			seen[m] = true
			out = append(out, m)
			queue = append(queue, m)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Touches reports whether a changed path is under the stage's dir, matches
// its watch globs or is one of its instance files: a quick answer without a
// checkout (local modules need one; Detect finds those too).
func Touches(s config.Stage, changed map[string]bool) bool {
	for p := range changed {
		if _, instance := s.InstanceOf(p); p != "" && (why(s, nil, p) != "" || instance) {
			return true
		}
	}
	return false
}
