package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/redact"
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
	Meta PlanMeta
	// Plan is the plan that was applied, for the comment's headline and
	// redaction.
	Plan    *tfjson.Plan
	Log     string
	Outputs []Output
	// RunID is the run's record ("" when runs are not recorded).
	RunID string
	// Engine is what applied: the Terraform that made the plan
	// ("Terraform 1.11.4").
	Engine string
	// Steps are what the stage's pre_apply and post_apply steps did. A
	// post_apply step that fails is reported; what was applied stays.
	Steps []StepResult
}

// ErrStopping is an apply the bot interrupted because it stopped: Terraform
// got SIGINT and stopped gracefully (its state written, its lock released).
var ErrStopping = errors.New("the bot stopped: Terraform was interrupted and stopped gracefully")

// StaleError says why a saved plan may not be applied.
type StaleError struct{ Reason string }

func (e *StaleError) Error() string { return ErrStalePlan.Error() + ": " + e.Reason }

// Is makes errors.Is(err, ErrStalePlan) true.
func (e *StaleError) Is(target error) bool { return target == ErrStalePlan }

// CheckPlan returns the saved plan's record if it may be applied to run: it
// was made for run's stage, head and base, by an engine the bot still has.
// Apply checks the file against the record's hash as it copies it.
func (r *Runner) CheckPlan(ctx context.Context, run Run) (PlanMeta, error) {
	meta, _, err := r.checkPlan(ctx, run)
	return meta, err
}

// checkPlan is CheckPlan, and run with the engine that made the plan: only
// that one may apply it.
func (r *Runner) checkPlan(ctx context.Context, run Run) (PlanMeta, Run, error) {
	meta, err := r.PostedPlan(ctx, run)
	if err != nil {
		return meta, run, err
	}
	made, ok, err := r.files.PlanFileEngine(ctx, planKeyOf(meta))
	switch {
	case err != nil:
		return meta, run, fmt.Errorf("read the plan file of stage %s: %w", run.Stage, err)
	case !ok:
		return meta, run, &StaleError{Reason: fmt.Sprintf("the plan file of stage %s is gone", run.Stage)}
	case made != "" && kindOf(made) != engineKey(run.Engine):
		return meta, run, &StaleError{Reason: fmt.Sprintf("stage %s was planned with %s and now runs with %s (terraform_bin changed)", run.Stage, kindOf(made), engineKey(run.Engine))}
	}
	if run.chosen, err = r.plannedEngine(run, made); err != nil {
		return meta, run, err
	}
	return meta, run, nil
}

// PostedPlan returns the record of the stage's saved plan if it was made
// for run's head and base and shown in the pull request.
func (r *Runner) PostedPlan(ctx context.Context, run Run) (PlanMeta, error) {
	meta, ok, err := r.plans.Plan(ctx, run.Repo, run.PR, run.Stage)
	switch {
	case err != nil:
		return meta, fmt.Errorf("read the plan record of stage %s: %w", run.Stage, err)
	case !ok:
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s has no saved plan for %s", run.Stage, shortSHA(run.HeadSHA))}
	case meta.HeadSHA != run.HeadSHA:
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s was planned at %s, the head is now %s", run.Stage, shortSHA(meta.HeadSHA), shortSHA(run.HeadSHA))}
	case meta.BaseSHA != run.BaseSHA:
		return meta, &StaleError{Reason: fmt.Sprintf("stage %s was planned against base %s, the base is now %s", run.Stage, shortSHA(meta.BaseSHA), shortSHA(run.BaseSHA))}
	case !meta.Posted:
		return meta, &StaleError{Reason: fmt.Sprintf("the plan of stage %s was never shown in the pull request", run.Stage)}
	}
	return meta, nil
}

// Apply applies the saved plan of run's stage, and only that: it never plans
// anew. Terraform gets a copy checked against the hash recorded when the
// plan was made. The plan is deleted afterwards, whatever happened, since
// it holds secrets and cannot be applied twice.
func (r *Runner) Apply(ctx context.Context, run Run) (_ *ApplyResult, err error) {
	defer func(start time.Time) {
		outcome := "applied"
		if err != nil {
			outcome = "failed"
		}
		r.metrics.observe(run.Stage, "apply", outcome, time.Since(start))
	}(time.Now())
	meta, run, err := r.checkPlan(ctx, run)
	if err != nil {
		return nil, err
	}
	// pre_apply steps run in a sandbox session of their own, ended (with
	// every process they started) before Terraform gets its copy of the
	// plan. One that blocks stops the apply and keeps the plan, to be
	// applied once what it found is fixed.
	steps, err := r.applySteps(ctx, run, meta, nil, config.PreApply, "")
	if err != nil {
		return nil, err
	}
	if b := blocking(steps); b != nil {
		return nil, &RunError{Stage: run.Stage, Step: config.PreApply, Output: b.Output, Err: &StepError{Step: *b}, Steps: steps}
	}
	defer r.forgetPlan(ctx, run.Repo, run.PR, run.Stage)
	r.applies.Add(1)
	defer r.applies.Done()
	select {
	case <-r.stopping:
		return nil, fmt.Errorf("apply of stage %s: the bot is stopping", run.Stage)
	default:
	}
	// Only the runner's timeout and the bot's stop end an apply; the
	// caller's cancellation does not (Terraform cut off half-way leaves
	// state and lock behind).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.timeout)
	defer cancel()
	go func() {
		select {
		case <-r.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := r.open(ctx, run, opApply, "apply")
	if err != nil {
		return nil, err
	}
	runID := r.startRun(ctx, run, opApply, s)
	var shown *tfjson.Plan
	defer func() { // after close, so the log is flushed
		if shown != nil {
			// The values the plan marks sensitive, as the plan's log.
			redactFile(s.file.Name(), r.secrets.With(run.Redact.Values()...).With(redact.PlanValues(shown)...))
		}
		r.finishRun(ctx, runID, s.file.Name(), err)
	}()
	defer s.close()
	if err := r.initIfNeeded(ctx, s, run); err != nil {
		return nil, err
	}
	file, done, err := r.planCopy(ctx, s, meta)
	if err != nil {
		return nil, err
	}
	defer done()
	res := &ApplyResult{Meta: meta, RunID: runID, Engine: r.EngineOf(run)}
	// The plan as the comment shows it; show's JSON stays out of the log.
	s.tf.SetStdout(io.Discard)
	if res.Plan, err = s.tf.ShowPlanFile(ctx, file); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "show", Output: s.out.String(), Err: ctxErr(ctx, err)}
	}
	shown = res.Plan
	s.tf.SetStdout(s.output)
	if err := s.tf.Apply(ctx, tfexec.DirOrPlan(file), tfexec.Lock(true), tfexec.LockTimeout("60s")); err != nil {
		err = ctxErr(ctx, err)
		select {
		case <-r.stopping:
			err = fmt.Errorf("%w: %w", ErrStopping, err)
		default:
		}
		// What Terraform printed may hold the plan's sensitive values (a
		// provisioner's command, its output): the failure shows none.
		red := r.secrets.With(run.Redact.Values()...).With(redact.PlanValues(shown)...)
		return nil, &RunError{Stage: run.Stage, Step: "apply", Output: red.Redact(s.out.String()), Err: redactedError{red.Redact(err.Error()), err}}
	}
	res.Log = s.out.String()
	if res.Outputs, err = outputs(ctx, s, run); err != nil {
		return nil, err
	}
	res.Steps = steps
	if len(run.Steps.Of(config.PostApply)) > 0 {
		s.close() // what Terraform started is gone before the steps start
		post, err := r.applySteps(ctx, run, meta, res.Plan, config.PostApply, s.file.Name())
		if err != nil {
			post = []StepResult{{Phase: config.PostApply, Name: "(start)", Failure: err.Error()}}
		}
		res.Steps = append(res.Steps, post...)
	}
	return res, nil
}

// applySteps runs the steps of phase (pre_apply, post_apply) of run in a
// sandbox session of their own, with the apply's credentials. pre_apply
// steps get the plan's file and JSON (shown by this session's Terraform);
// post_apply steps get the applied plan's JSON. Their output goes to
// logFile too (the apply's log; "" for none yet).
func (r *Runner) applySteps(ctx context.Context, run Run, meta PlanMeta, applied *tfjson.Plan, phase, logFile string) ([]StepResult, error) {
	if len(run.Steps.Of(phase)) == 0 {
		return nil, nil
	}
	s, err := r.open(ctx, run, opApply, "")
	if err != nil {
		return nil, err
	}
	defer s.close()
	plan := applied
	var files stepFiles
	var done func()
	if phase == config.PreApply {
		if err := r.initIfNeeded(ctx, s, run); err != nil {
			return nil, err
		}
		files, done, err = r.stepPlanFiles(ctx, s, meta, func(file string) (*tfjson.Plan, error) {
			plan, err = s.tf.ShowPlanFile(ctx, file)
			return plan, err
		})
	} else {
		files, done, err = appliedPlanJSON(s, run, applied)
	}
	if err != nil {
		return nil, err
	}
	defer done()
	red := r.secrets.With(run.Redact.Values()...).With(redact.PlanValues(plan)...)
	log, closeLog := appendLog(logFile, red)
	defer closeLog()
	return r.runSteps(ctx, s, run, phase, opApply, files, red, log), nil
}

// redactedError is err with its message redacted; errors.Is and As still
// see err.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }

// outputs reads a stage's outputs from its state, sorted by name.
func outputs(ctx context.Context, s *session, run Run) ([]Output, error) {
	// The JSON holds sensitive values in clear: it stays out of the log.
	s.tf.SetStdout(io.Discard)
	defer s.tf.SetStdout(s.output)
	raw, err := s.tf.Output(ctx)
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

// MarkPosted records that the plan of meta was shown to reviewers: from
// now on it may be applied.
func (r *Runner) MarkPosted(ctx context.Context, meta PlanMeta) error {
	return r.plans.MarkPosted(ctx, meta.Repo, meta.PR, meta.Stage, meta.SHA256)
}

// DiscardPlan deletes a stage's saved plan, so it must be planned again.
func (r *Runner) DiscardPlan(ctx context.Context, run Run) error {
	return r.forgetPlan(ctx, run.Repo, run.PR, run.Stage)
}

// Timeout is the longest one run may take.
func (r *Runner) Timeout() time.Duration { return r.timeout }

// StageOutputs reads a stage's outputs from its state, with the plan
// credentials, initialising the stage dir first when it has not been (a
// stage this PR does not change).
func (r *Runner) StageOutputs(ctx context.Context, run Run) ([]Output, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s, err := r.open(ctx, run, opPlan, "init")
	if err != nil {
		return nil, err
	}
	defer s.close()
	if err := r.initIfNeeded(ctx, s, run); err != nil {
		return nil, err
	}
	return outputs(ctx, s, run)
}

// Settled reports whether run's stage has nothing left to do: its real
// resources already are what its configuration asks for (a plan that
// refreshes them, takes the state lock without waiting, and saves nothing
// finds no change). An apply whose bot died before it recorded the
// outcome is known finished by it; one still running holds the lock, and
// is not.
func (r *Runner) Settled(ctx context.Context, run Run) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s, err := r.open(ctx, run, opPlan, "settled")
	if err != nil {
		return false, err
	}
	defer s.close()
	if err := r.init(ctx, s.tf, run); err != nil {
		return false, &RunError{Stage: run.Stage, Step: "init", Output: s.out.String(), Err: err}
	}
	out := filepath.Join(run.Dir, ".stagebot-settled.tfplan")
	defer os.Remove(out)
	opts, err := r.planOptions(run, tfexec.Lock(true), tfexec.LockTimeout("0s"), tfexec.Out(out))
	if err != nil {
		return false, err
	}
	changes, err := s.tf.Plan(ctx, opts...)
	if err != nil {
		return false, &RunError{Stage: run.Stage, Step: "plan", Output: s.out.String(), Err: ctxErr(ctx, err)}
	}
	if changes {
		return false, nil
	}
	// A resource is in the state as soon as it is made, before its
	// provisioners run: where there are provisioners, an apply cut off in
	// one looks finished. It cannot be told, so it is not called so.
	s.tf.SetStdout(io.Discard)
	shown, err := s.tf.ShowPlanFile(ctx, out)
	if err != nil {
		return false, &RunError{Stage: run.Stage, Step: "show", Output: s.out.String(), Err: ctxErr(ctx, err)}
	}
	return shown.Config == nil || !provisioned(shown.Config.RootModule), nil
}

// provisioned reports whether a module, or one it calls, has a resource
// with a provisioner.
func provisioned(m *tfjson.ConfigModule) bool {
	if m == nil {
		return false
	}
	for _, r := range m.Resources {
		if len(r.Provisioners) > 0 {
			return true
		}
	}
	for _, c := range m.ModuleCalls {
		if c != nil && provisioned(c.Module) {
			return true
		}
	}
	return false
}

var lockID = regexp.MustCompile(`(?m)^\s*ID:\s+(\S+)`)

// StateLock reports the ID of a lock held on a stage's state (by a run the
// bot lost, say), or "" when the state is not locked: it tries to take the
// lock without waiting, in a plan that refreshes nothing and saves nothing.
func (r *Runner) StateLock(ctx context.Context, run Run) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	s, err := r.open(ctx, run, opPlan, "lock")
	if err != nil {
		return "", err
	}
	defer s.close()
	if err := r.init(ctx, s.tf, run); err != nil {
		return "", &RunError{Stage: run.Stage, Step: "init", Output: s.out.String(), Err: err}
	}
	// With the stage's variables, as its plans: without them a plan of a
	// stage that needs one fails before it asks for the lock.
	opts, err := r.planOptions(run, tfexec.Lock(true), tfexec.LockTimeout("0s"), tfexec.Refresh(false))
	if err != nil {
		return "", err
	}
	_, err = s.tf.Plan(ctx, opts...)
	out := s.out.String()
	if err == nil || !strings.Contains(out+err.Error(), "acquiring the state lock") {
		return "", nil
	}
	if m := lockID.FindStringSubmatch(out + "\n" + err.Error()); m != nil {
		return m[1], nil
	}
	return "unknown", nil
}

// initIfNeeded runs init before an apply or an output read when the
// checkout needs it. Workspaces are a cache: a replica that did not plan
// the stage has a fresh checkout, which Terraform must initialise
// (providers, backend). An instance's checkout may have been set up for
// another instance: its outputs are read from its own state only after
// init points the backend at it.
func (r *Runner) initIfNeeded(ctx context.Context, s *session, run Run) error {
	if _, err := os.Stat(filepath.Join(run.Dir, ".terraform")); err == nil && run.Instance == "" {
		return nil
	}
	if err := r.init(ctx, s.tf, run); err != nil {
		return &RunError{Stage: run.Stage, Step: "init", Output: s.out.String(), Err: err}
	}
	return nil
}
