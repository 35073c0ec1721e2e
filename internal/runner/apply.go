package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// Output is one Terraform output after apply.
type Output struct {
	Name      string
	Sensitive bool
	// Value is the output's JSON value; it holds secrets when Sensitive.
	Value json.RawMessage
}

// ApplyResult is an applied stage.
type ApplyResult struct {
	Meta    PlanMeta
	Log     string
	Outputs []Output
}

// StaleError says why a saved plan may not be applied.
type StaleError struct{ Reason string }

func (e *StaleError) Error() string { return ErrStalePlan.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrStalePlan) true.
func (e *StaleError) Is(target error) bool { return target == ErrStalePlan }

// CheckPlan returns the saved plan's metadata if it may be applied to run:
// it exists, its file hash is the one recorded when it was made, and it was
// made for run's head and base.
func (r *Runner) CheckPlan(run Run) (PlanMeta, error) {
	planFile := filepath.Join(run.Dir, planFileName)
	meta, err := readMeta(filepath.Join(run.Dir, metaFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s has no saved plan for %s", run.Stage, shortSHA(run.HeadSHA))}
	}
	if err != nil {
		return meta, fmt.Errorf("read plan metadata of stage %s: %w", run.Stage, err)
	}
	sum, err := fileSHA256(planFile)
	switch {
	case err != nil:
		return meta, &StaleError{Reason: fmt.Sprintf("the plan file of stage %s is gone", run.Stage)}
	case sum != meta.SHA256:
		return meta, &StaleError{Reason: fmt.Sprintf("the plan file of stage %s changed since it was made", run.Stage)}
	case meta.Stage != run.Stage:
		return meta, &StaleError{Reason: fmt.Sprintf("the saved plan is of stage %s, not %s", meta.Stage, run.Stage)}
	case meta.HeadSHA != run.HeadSHA:
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s was planned at %s, the head is now %s", run.Stage, shortSHA(meta.HeadSHA), shortSHA(run.HeadSHA))}
	case meta.BaseSHA != run.BaseSHA:
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s was planned against base %s, the base is now %s", run.Stage, shortSHA(meta.BaseSHA), shortSHA(run.BaseSHA))}
	}
	return meta, nil
}

// Apply applies the saved plan of run's stage, and only that: it never plans
// anew. The plan file is deleted afterwards, whatever happened, since it
// holds secrets and cannot be applied twice.
func (r *Runner) Apply(ctx context.Context, run Run) (*ApplyResult, error) {
	meta, err := r.CheckPlan(run)
	if err != nil {
		return nil, err
	}
	planFile := filepath.Join(run.Dir, planFileName)
	defer os.Remove(filepath.Join(run.Dir, metaFileName))
	defer os.Remove(planFile)

	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	l, err := r.start(ctx, run, "apply")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	tf, buf := l.tf, &l.out
	if err := tf.Apply(ctx, tfexec.DirOrPlan(planFileName), tfexec.Lock(true), tfexec.LockTimeout("60s")); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "apply", Output: buf.String(), Err: ctxErr(ctx, err)}
	}
	outputs, err := r.Outputs(ctx, run)
	if err != nil {
		return nil, err
	}
	return &ApplyResult{Meta: meta, Log: buf.String(), Outputs: outputs}, nil
}

// Outputs reads a stage's outputs from its state, sorted by name.
func (r *Runner) Outputs(ctx context.Context, run Run) ([]Output, error) {
	tf, err := r.terraform(ctx, run.Dir, nil)
	if err != nil {
		return nil, err
	}
	raw, err := tf.Output(ctx)
	if err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "output", Err: ctxErr(ctx, err)}
	}
	out := make([]Output, 0, len(raw))
	for name, o := range raw {
		out = append(out, Output{Name: name, Sensitive: o.Sensitive, Value: o.Value})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// DiscardPlan deletes a stage's saved plan, so it must be planned again.
func (r *Runner) DiscardPlan(run Run) {
	os.Remove(filepath.Join(run.Dir, planFileName))
	os.Remove(filepath.Join(run.Dir, metaFileName))
}

// Timeout is the longest one run may take.
func (r *Runner) Timeout() time.Duration { return r.timeout }

// StageOutputs reads a stage's outputs from its state, initialising the
// stage dir first when it has not been (a stage this PR does not change).
func (r *Runner) StageOutputs(ctx context.Context, run Run) ([]Output, error) {
	if _, err := os.Stat(filepath.Join(run.Dir, ".terraform")); err != nil {
		l, err := r.start(ctx, run, "init")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		if err := r.init(ctx, l.tf, run); err != nil {
			return nil, &RunError{Stage: run.Stage, Step: "init", Output: l.out.String(), Err: err}
		}
	}
	return r.Outputs(ctx, run)
}
