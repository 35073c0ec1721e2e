package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/hashicorp/go-version"
)

// Engines a stage may run with (stagebot.yaml terraform_bin).
const (
	Terraform = "terraform"
	OpenTofu  = "tofu"
)

// engine is one binary the runner runs stages with.
type engine struct {
	kind    string // Terraform or OpenTofu
	bin     string
	version *version.Version
}

// name is the engine's name for people.
func (e *engine) name() string {
	if e.kind == OpenTofu {
		return "OpenTofu"
	}
	return "Terraform"
}

func (e *engine) String() string { return e.name() + " " + e.version.String() }

// key is how a plan records the engine that made it, which alone may apply
// it: tofu, or terraform@VERSION (a bot may hold several Terraforms).
func (e *engine) key() string {
	if e.kind == OpenTofu {
		return OpenTofu
	}
	return Terraform + "@" + e.version.String()
}

// findEngine looks a binary up and asks its version.
func findEngine(ctx context.Context, kind, bin string) (*engine, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	e := &engine{kind: kind, bin: path}
	if e.version, err = TerraformVersion(ctx, path); err != nil {
		return nil, fmt.Errorf("%s binary %s: %w", e.name(), path, err)
	}
	return e, nil
}

// findTerraform finds Terraform: bin, else terraform on PATH.
func findTerraform(ctx context.Context, bin string) (*engine, error) {
	if bin == "" {
		bin = "terraform"
	}
	e, err := findEngine(ctx, Terraform, bin)
	var notFound *exec.Error
	if errors.As(err, &notFound) {
		return nil, fmt.Errorf("terraform binary %q not found: install Terraform >= 1.10 or set STAGEBOT_TERRAFORM_BIN", bin)
	}
	return e, err
}

// findTofu finds OpenTofu: bin when set (then it must exist), else tofu
// on PATH when there is one. nil means stages cannot use OpenTofu.
func findTofu(ctx context.Context, bin string) (*engine, error) {
	name := bin
	if name == "" {
		name = "tofu"
	}
	e, err := findEngine(ctx, OpenTofu, name)
	var notFound *exec.Error
	if bin == "" && errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil && errors.As(err, &notFound) {
		return nil, fmt.Errorf("OpenTofu binary %q not found: install OpenTofu or unset STAGEBOT_TOFU_BIN", bin)
	}
	return e, err
}

// ErrNoEngine is a stage asking for an engine this bot does not have.
var ErrNoEngine = errors.New("no such engine")

// engine returns the engine a run asks for: the one chosen for it already
// (see withEngine), else OpenTofu, or the Terraform its terraform_version
// and required_version allow (see terraformFor).
func (r *Runner) engine(run Run) (*engine, error) {
	if run.chosen != nil {
		return run.chosen, nil
	}
	switch run.Engine {
	case "", Terraform:
		return r.terraformFor(run)
	case OpenTofu:
		if run.TerraformVersion != "" {
			return nil, fmt.Errorf("%w: stage %s runs with OpenTofu (terraform_bin: tofu), and terraform_version %q is for Terraform", ErrNoEngine, run.Stage, run.TerraformVersion)
		}
		if r.tofu == nil {
			return nil, fmt.Errorf("%w: stage %s runs with OpenTofu (terraform_bin: tofu), and this bot has none: install it, or set STAGEBOT_TOFU_BIN", ErrNoEngine, run.Stage)
		}
		return r.tofu, nil
	}
	return nil, fmt.Errorf("%w: stage %s asks for %q (terraform or tofu)", ErrNoEngine, run.Stage, run.Engine)
}

// withEngine returns run with its engine chosen, once for all the
// sessions of one plan: what the PR's code writes while it runs cannot
// change it half-way. OpenTofu is checked against the required_version of
// the stage's modules here; the Terraform chosen meets them already.
func (r *Runner) withEngine(run Run) (Run, error) {
	e, err := r.engine(run)
	if err != nil {
		return run, err
	}
	if e.kind == OpenTofu {
		if err := r.checkRequiredVersion(run, e); err != nil {
			return run, err
		}
	}
	run.chosen = e
	return run, nil
}

// engineKey is the kind of engine a run asks for: terraform or tofu.
func engineKey(e string) string {
	if e == "" {
		return Terraform
	}
	return e
}

// madeBy is the engine a plan of run records: the one chosen for it.
func madeBy(run Run) string {
	if run.chosen != nil {
		return run.chosen.key()
	}
	return engineKey(run.Engine)
}

// kindOf is the kind of engine a plan's recorded key names (terraform@1.13.3
// is terraform).
func kindOf(key string) string {
	kind, _, _ := strings.Cut(key, "@")
	return kind
}

// EngineOf says what runs a run: "Terraform 1.13.3", "OpenTofu 1.12.6";
// "" when the runner has no such engine.
func (r *Runner) EngineOf(run Run) string {
	e, err := r.engine(run)
	if err != nil {
		return ""
	}
	return e.String()
}
