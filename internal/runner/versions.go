package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/go-version"
)

// A bot may hold several Terraform versions: its default (terraform-bin)
// and those of a versions dir (terraform-versions-dir). A stage runs with
// the newest of them that its terraform_version (stagebot.yaml) and the
// required_version of its modules allow; a stage that asks for nothing
// runs with the default. The plan records the version, and only that
// version applies it. The bot never downloads a binary: the operator
// fills the dir (hc-install, see the README).

// scanVersions finds the Terraform binaries of a versions dir, laid out as
// DIR/VERSION/terraform, or as DIR/terraform_VERSION or
// DIR/terraform-VERSION, and asks each its version: the binary's answer
// counts, and one that differs from its name is an error. Other entries
// are left alone.
func scanVersions(ctx context.Context, dir string) ([]*engine, error) {
	entries, err := versionEntries(dir)
	if err != nil {
		return nil, fmt.Errorf("terraform versions dir: %w", err)
	}
	var out []*engine
	for _, ent := range entries {
		e, err := versionBinary(ctx, ent.path, ent.named)
		if err != nil {
			return nil, fmt.Errorf("terraform versions dir %s: %w", dir, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// versionEntry is an entry of a versions dir named for a version: where
// its binary is in the layout the name says.
type versionEntry struct {
	named *version.Version
	path  string
}

// versionEntries are the entries of a versions dir named for a version,
// as DIR/VERSION (the binary DIR/VERSION/terraform), DIR/terraform_VERSION
// or DIR/terraform-VERSION; hidden entries (an install under way) and
// others are left out.
func versionEntries(dir string) ([]versionEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []versionEntry
	for _, ent := range entries {
		name, path := ent.Name(), filepath.Join(dir, ent.Name())
		if strings.HasPrefix(name, ".") {
			continue
		}
		if rest, ok := cutAny(name, "terraform_", "terraform-"); ok {
			name = rest
		} else {
			path = filepath.Join(path, "terraform")
		}
		if named, err := version.NewVersion(name); err == nil {
			out = append(out, versionEntry{named: named, path: path})
		}
	}
	return out, nil
}

// versionBinary is the Terraform at path, which its name says is version
// named. Links are followed: the sandbox's users run the file itself.
func versionBinary(ctx context.Context, path string, named *version.Version) (*engine, error) {
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("%s is named for Terraform %s: %w", path, named, err)
	}
	if real, err = filepath.Abs(real); err != nil {
		return nil, err
	}
	if st, err := os.Stat(real); err != nil || !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("%s is named for Terraform %s, and is no executable file", path, named)
	}
	have, err := TerraformVersion(ctx, real)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if !have.Equal(named) {
		return nil, fmt.Errorf("%s is named for Terraform %s, and says it is %s: rename it, or put the right binary there", path, named, have)
	}
	return &engine{kind: Terraform, bin: real, version: have}, nil
}

func cutAny(s string, prefixes ...string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return s, false
}

// terraforms are the Terraform engines a bot has, newest first, one per
// version: the default and those of the versions dir (a version of both is
// the default's). Two binaries of one version in the dir are an error: a
// plan names its version, and must name one binary.
func terraforms(def *engine, dir []*engine) ([]*engine, error) {
	out := []*engine{def}
	for _, e := range dir {
		i := slices.IndexFunc(out, func(o *engine) bool { return o.version.Equal(e.version) })
		switch {
		case i == 0:
			continue
		case i > 0:
			return nil, fmt.Errorf("terraform versions dir: %s and %s are both Terraform %s: keep one", out[i].bin, e.bin, e.version)
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b *engine) int { return b.version.Compare(a.version) })
	return out, nil
}

// installed lists the Terraform versions the bot has, oldest first.
func (r *Runner) installed() []string {
	var out []string
	for _, e := range slices.Backward(r.terraforms) {
		out = append(out, e.version.String())
	}
	return out
}

// terraformFor chooses the Terraform of a run: the newest the bot has that
// meets the run's terraform_version and every required_version of its
// modules; the default when it asks for nothing. Where none does, the
// error says which requirement excludes them, and what the bot has.
func (r *Runner) terraformFor(run Run) (*engine, error) {
	var reqs []requirement
	if run.TerraformVersion != "" {
		c, err := version.NewConstraint(run.TerraformVersion)
		if err != nil {
			return nil, fmt.Errorf("stage %s: terraform_version %q is not a version or a version constraint (1.11.4, ~> 1.11.0): %w", run.Stage, run.TerraformVersion, err)
		}
		reqs = append(reqs, requirement{constraint: c, text: run.TerraformVersion, source: FromTerraformVersion})
	}
	reqs = append(reqs, requiredVersions(run)...)
	if len(reqs) == 0 {
		return r.terraform, nil
	}
	for _, e := range r.terraforms {
		if !slices.ContainsFunc(reqs, func(q requirement) bool { return !e.meets(q) }) {
			return e, nil
		}
	}
	e := &VersionError{Stage: run.Stage, Have: r.terraform.version.String(), Bin: r.terraform.bin, Engine: "Terraform"}
	if r.versionsDir != "" {
		e.Installed = r.installed()
	}
	for _, q := range reqs {
		if !slices.ContainsFunc(r.terraforms, func(t *engine) bool { return t.meets(q) }) {
			e.Required, e.Module, e.Source = q.text, q.module, q.source
			return nil, e
		}
	}
	e.Required, e.Module, e.Source = reqs[0].text, reqs[0].module, reqs[0].source
	for _, q := range reqs {
		e.Conflict = append(e.Conflict, q.text+" ("+q.where()+")")
	}
	return nil, e
}

// plannedEngine is the engine that made run's plan, as the plan file
// records it (see engine.key): only it may apply the plan. A plan of an
// older bot records terraform (the default) or nothing (the run's choice).
func (r *Runner) plannedEngine(run Run, made string) (*engine, error) {
	kind, v, versioned := strings.Cut(made, "@")
	if made == "" || !versioned {
		if kind == Terraform {
			return r.terraform, nil
		}
		return r.engine(run)
	}
	want, err := version.NewVersion(v)
	if err != nil || kind != Terraform {
		return nil, &StaleError{Reason: fmt.Sprintf("the plan file of stage %s names an engine this bot does not know (%q)", run.Stage, made)}
	}
	i := slices.IndexFunc(r.terraforms, func(e *engine) bool { return e.version.Equal(want) })
	if i < 0 {
		return nil, &StaleError{Reason: fmt.Sprintf("stage %s was planned with Terraform %s, and this bot no longer has it (it has %s: STAGEBOT_TERRAFORM_BIN, STAGEBOT_TERRAFORM_VERSIONS_DIR); plan again, or put that version back",
			run.Stage, want, strings.Join(r.installed(), ", "))}
	}
	e := r.terraforms[i]
	if run.TerraformVersion != "" {
		if c, err := version.NewConstraint(run.TerraformVersion); err == nil && !e.meets(requirement{constraint: c}) {
			return nil, &StaleError{Reason: fmt.Sprintf("stage %s was planned with Terraform %s, and its terraform_version is now %s: plan again", run.Stage, want, run.TerraformVersion)}
		}
	}
	return e, nil
}
