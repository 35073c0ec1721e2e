package runner

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"

	"github.com/hashicorp/go-version"
)

// Engines a stage may run with (stagebot.yaml terraform_bin).
const (
	Terraform = "terraform"
	OpenTofu  = "tofu"
)

// engine is one binary the runner runs stages with.
type engine struct {
	name    string // Terraform or OpenTofu, for people
	bin     string
	version *version.Version
}

func (e *engine) String() string { return e.name + " " + e.version.String() }

// findEngine looks a binary up and asks its version.
func findEngine(ctx context.Context, name, bin string) (*engine, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return nil, err
	}
	if path, err = filepath.Abs(path); err != nil {
		return nil, err
	}
	v, err := TerraformVersion(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("%s binary %s: %w", name, path, err)
	}
	return &engine{name: name, bin: path, version: v}, nil
}

// findTerraform finds Terraform: bin, else terraform on PATH.
func findTerraform(ctx context.Context, bin string) (*engine, error) {
	if bin == "" {
		bin = "terraform"
	}
	e, err := findEngine(ctx, "Terraform", bin)
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
	e, err := findEngine(ctx, "OpenTofu", name)
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

// engine returns the engine a run asks for.
func (r *Runner) engine(run Run) (*engine, error) {
	switch run.Engine {
	case "", Terraform:
		return r.terraform, nil
	case OpenTofu:
		if r.tofu == nil {
			return nil, fmt.Errorf("%w: stage %s runs with OpenTofu (terraform_bin: tofu), and this bot has none: install it, or set STAGEBOT_TOFU_BIN", ErrNoEngine, run.Stage)
		}
		return r.tofu, nil
	}
	return nil, fmt.Errorf("%w: stage %s asks for %q (terraform or tofu)", ErrNoEngine, run.Stage, run.Engine)
}

// engineKey is how a plan records its engine: terraform or tofu.
func engineKey(e string) string {
	if e == "" {
		return Terraform
	}
	return e
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
