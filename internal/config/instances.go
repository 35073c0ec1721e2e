package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
)

// Instances makes a stage run once per file: each instance has its own
// state (backend_config names ${instance}) and gets its file as -var-file.
type Instances struct {
	// From is where the instances' files are: a directory and a file name
	// with one *, such as terraform/tenants/*.tfvars. The * is the
	// instance's name.
	From string `yaml:"from"`
}

// InstanceVar is what backend_config values name to differ per instance.
const InstanceVar = "${instance}"

// UnitSep joins a stage and an instance in a unit's name: tenant:acme.
const UnitSep = ":"

// UnitName is the name of instance of stage: its check run, lock, plan and
// command argument.
func UnitName(stage, instance string) string { return stage + UnitSep + instance }

// SplitUnit splits tenant:acme into tenant and acme; a stage name comes
// back with no instance.
func SplitUnit(name string) (stage, instance string) {
	stage, instance, _ = strings.Cut(name, UnitSep)
	return stage, instance
}

// ValidUnitName reports whether name is a stage name, or a stage name and
// an instance name joined by a colon.
func ValidUnitName(name string) bool {
	stage, instance := SplitUnit(name)
	return namePattern.MatchString(stage) && (instance == "" && !strings.Contains(name, UnitSep) || namePattern.MatchString(instance))
}

// Instanced reports whether the stage runs once per instance.
func (s Stage) Instanced() bool { return s.Instances != nil && s.Base == "" }

// BaseName is the name of the stage a unit is an instance of, or the
// stage's own name.
func (s Stage) BaseName() string {
	if s.Base != "" {
		return s.Base
	}
	return s.Name
}

// fromParts splits an instances.from pattern into its directory and the
// file name's text before and after the *.
func fromParts(from string) (dir, prefix, suffix string, ok bool) {
	dir, file := path.Split(from)
	dir = strings.TrimSuffix(dir, "/")
	if strings.ContainsAny(dir, "*?[]{}\\") || strings.Count(file, "*") != 1 || strings.ContainsAny(file, "?[]{}\\/") {
		return "", "", "", false
	}
	prefix, suffix, _ = strings.Cut(file, "*")
	return dir, prefix, suffix, true
}

// Unit is instance of stage s: the stage with its name, its var file and
// its backend config made the instance's.
func (s Stage) Unit(instance string) Stage {
	dir, prefix, suffix, _ := fromParts(s.Instances.From)
	u := s
	u.Name = UnitName(s.Name, instance)
	u.Base = s.Name
	u.Instance = instance
	u.VarFile = path.Join(dir, prefix+instance+suffix)
	u.BackendConfig = make(map[string]string, len(s.BackendConfig))
	for k, v := range s.BackendConfig {
		u.BackendConfig[k] = strings.ReplaceAll(v, InstanceVar, instance)
	}
	return u
}

// InstanceOf returns the instance whose file is p (repo-relative), if p is
// one of the stage's instance files.
func (s Stage) InstanceOf(p string) (string, bool) {
	if !s.Instanced() {
		return "", false
	}
	dir, prefix, suffix, _ := fromParts(s.Instances.From)
	d, file := path.Split(p)
	if strings.TrimSuffix(d, "/") != dir || !strings.HasPrefix(file, prefix) || !strings.HasSuffix(file, suffix) || len(file) <= len(prefix)+len(suffix) {
		return "", false
	}
	return file[len(prefix) : len(file)-len(suffix)], true
}

// InstanceError is an instance file whose name cannot be an instance's.
type InstanceError struct{ Stage, File string }

func (e *InstanceError) Error() string {
	return fmt.Sprintf("stage %s: %s cannot be an instance: the part of its name that * matches must be lower-case letters, digits, - and _ (at most 63, starting with a letter or digit)", e.Stage, e.File)
}

// ListInstances returns the instances of stage s in the checkout at root,
// sorted. A file whose name is no valid instance name is an *InstanceError;
// a missing directory means no instance.
func (s Stage) ListInstances(root string) ([]string, error) {
	dir, _, _, _ := fromParts(s.Instances.From)
	entries, err := os.ReadDir(filepath.Join(root, filepath.FromSlash(dir)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("stage %s: list instances: %w", s.Name, err)
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		p := path.Join(dir, e.Name())
		name, ok := s.InstanceOf(p)
		if !ok {
			continue
		}
		if !namePattern.MatchString(name) {
			return nil, &InstanceError{Stage: s.Name, File: p}
		}
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

// Units returns the stages in apply order with each instanced stage
// replaced by its instances found in the checkout at root.
func (r *Repo) Units(root string) ([]Stage, error) {
	var out []Stage
	for _, s := range r.Stages {
		if !s.Instanced() {
			out = append(out, s)
			continue
		}
		names, err := s.ListInstances(root)
		if err != nil {
			return nil, err
		}
		for _, n := range names {
			out = append(out, s.Unit(n))
		}
	}
	return out, nil
}

// IsStageOrUnitOf reports whether name (from a command) names unit u: its
// own name, or its stage's (every instance).
func IsStageOrUnitOf(names []string, u Stage) bool {
	return slices.Contains(names, u.Name) || (u.Base != "" && slices.Contains(names, u.Base))
}

func (r *Repo) validateInstances(v *validator, i int, s Stage) {
	if s.Instances == nil {
		return
	}
	if _, _, _, ok := fromParts(s.Instances.From); !ok || path.IsAbs(s.Instances.From) || strings.HasPrefix(path.Clean(s.Instances.From), "../") {
		v.fail(fmt.Sprintf("%q must be a directory inside the repository and a file name with one * (the instance's name), such as terraform/tenants/*.tfvars", s.Instances.From), "stages", i, "instances", "from")
	}
	named := false
	for _, val := range s.BackendConfig {
		named = named || strings.Contains(val, InstanceVar)
	}
	if !named {
		v.fail("a stage with instances needs "+InstanceVar+" in a backend_config value (such as key: tenants/"+InstanceVar+".tfstate), so that each instance has its own state", "stages", i, "backend_config")
	}
	for j, o := range r.Stages {
		if slices.Contains(o.DependsOn, s.Name) {
			v.fail(fmt.Sprintf("stage %q has instances: no stage can depend on it (which instance's outputs would it read?)", s.Name), "stages", j, "depends_on")
		}
	}
	for j, sec := range r.Secrets {
		if sec.After == s.Name || strings.HasPrefix(sec.Kubeconfig, s.Name+".") || slices.ContainsFunc(slices.Collect(maps.Values(sec.Data)), func(ref string) bool { return strings.HasPrefix(ref, s.Name+".") }) {
			v.fail(fmt.Sprintf("stage %q has instances: a secret cannot be written after it or from its outputs", s.Name), "secrets", j)
		}
	}
}
