package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/hashicorp/terraform-config-inspect/tfconfig"
	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/sandbox"
)

// Run identifies one stage run.
type Run struct {
	Repo  string // owner/name, or a local label
	PR    int
	Stage string
	// Root is the checkout's directory (absolute); Dir, the stage's
	// directory in it. An empty Root is Dir.
	Root    string
	Dir     string
	HeadSHA string
	BaseSHA string
	// BackendConfig is passed to init as -backend-config=key=value.
	BackendConfig map[string]string
	// Redact are values to keep out of the run's log besides the
	// runner's own secrets (what the caller knows is secret).
	Redact *redact.Set
	// Engine runs the stage: Terraform ("" or "terraform") or OpenTofu
	// ("tofu").
	Engine string
	// TerraformVersion is the stage's terraform_version: a version or a
	// constraint that the Terraform it runs with must meet (the newest
	// the bot has that does). Not for OpenTofu.
	TerraformVersion string
	// chosen is the engine chosen for this run: by a plan, once (see
	// withEngine); by an apply, the one that made the plan.
	chosen *engine
	// Instance, when set, is the instance of the stage this run is for:
	// init reconfigures the backend (each instance has its own state),
	// VarFile (relative to Root) is passed to plan as -var-file, and the
	// name is the variable instance when the stage declares one.
	Instance string
	VarFile  string
	// Destroy plans the destruction of everything in the state (an
	// instance whose file was deleted).
	Destroy bool
	// Egress adds hosts the run may reach to the runner's allowlist (the
	// stage's egress in stagebot.yaml).
	Egress []string
	// Trusted marks reviewed content of the default branch (a merge, a
	// drift check): the providers its init installs join the shared
	// plugin cache, which every later run reads.
	Trusted bool
	// Steps run around the plan and the apply (from the turn's rules).
	Steps *config.Steps
	// Args are a /plan's allowlisted arguments (-target, -replace, -var,
	// -refresh=false); State, a state operation planned as a block.
	Args  command.PlanArgs
	State *command.StateOp
}

func (run Run) root() string {
	if run.Root == "" {
		return run.Dir
	}
	return run.Root
}

// planName is the file plan -out writes in the stage dir; the bot moves it
// out right after.
func (run Run) planName() string {
	rel, err := filepath.Rel(run.root(), filepath.Join(run.Dir, "stagebot.tfplan"))
	if err != nil {
		return "stagebot.tfplan"
	}
	return rel
}

// PlanResult is a plan and what the comment shows of it.
type PlanResult struct {
	Meta       PlanMeta
	HasChanges bool
	JSON       *tfjson.Plan
	// Text is `terraform show` of the plan: what reviewers read.
	Text string
	// Log is everything init and plan printed.
	Log string
	// RunID is the run's record ("" when runs are not recorded).
	RunID string
	// Engine is what planned ("Terraform 1.11.4"), chosen once for the
	// plan (see withEngine).
	Engine string
	// Steps are what the stage's pre_plan and post_plan steps did. When
	// one blocks (see StepResult.Blocks), the plan is shown but not kept:
	// it cannot be applied.
	Steps []StepResult
}

// Blocked is the step that keeps the plan from being applied, or nil.
func (p *PlanResult) Blocked() *StepResult { return blocking(p.Steps) }

// Lean drops what a rendered plan no longer needs in memory: the plan
// itself, its text and its log (the kept file and the log file stay).
// A nil result stays nil.
func (p *PlanResult) Lean() {
	if p != nil {
		p.JSON, p.Text, p.Log = nil, "", ""
	}
}

// RunError is a Terraform command that failed; Output is what it printed
// (for the comment, after redaction).
type RunError struct {
	Stage  string
	Step   string // init, plan, show, apply, output
	Output string
	Err    error
	// RunID is the run's record, when runs are recorded.
	RunID string
	// Steps are the stage's steps that ran before it failed.
	Steps []StepResult
}

func (e *RunError) Error() string {
	return fmt.Sprintf("terraform %s of stage %s failed: %v", e.Step, e.Stage, e.Err)
}

func (e *RunError) Unwrap() error { return e.Err }

// ErrStalePlan means the saved plan no longer matches what would be applied.
var ErrStalePlan = errors.New("the saved plan is stale: re-plan")

// Plan runs init and plan -out in the stage dir, keeps the plan file where
// the PR's code cannot reach it with its hash recorded, and reads that kept
// file back as JSON and as text: what the comment shows is what apply runs.
func (r *Runner) Plan(ctx context.Context, run Run) (res *PlanResult, err error) {
	defer func(start time.Time) {
		op, outcome := planOutcome(run, res, err)
		r.metrics.observe(run.Stage, op, outcome, time.Since(start))
	}(time.Now())
	if run, err = r.withEngine(run); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "init", Err: err}
	}
	if err := run.Args.Check(); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "plan", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	r.forgetPlan(ctx, run.Repo, run.PR, run.Stage)
	removeOp, err := writeStateOp(run)
	if err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "plan", Err: err}
	}
	defer removeOp()
	s, err := r.open(ctx, run, opPlan, "plan")
	if err != nil {
		return nil, err
	}
	var logFile string
	if s.file != nil {
		logFile = s.file.Name()
	}
	runID := r.startRun(ctx, run, opPlan, s)
	defer func() { r.finishRun(ctx, runID, logFile, err) }() // the log as redacted below
	red := r.secrets.With(run.Redact.Values()...)
	// The steps' output goes to the log, and not to s.out, the run's
	// output in memory: a step may print without end.
	steps := r.runSteps(ctx, s, run, config.PrePlan, opPlan, stepFiles{}, red, s.log)
	if b := blocking(steps); b != nil {
		s.close()
		return nil, &RunError{Stage: run.Stage, Step: config.PrePlan, Output: b.Output, Err: &StepError{Step: *b}, RunID: runID, Steps: steps}
	}
	hasChanges, err := r.initAndPlan(ctx, s, run)
	// A state lock held elsewhere, a state backend that failed for a
	// moment, or a full disk is tried again before the PR is told the plan
	// failed.
	for attempt := 1; attempt <= r.planRetries && transient(err) && ctx.Err() == nil; attempt++ {
		wait := r.planRetryWait << (attempt - 1)
		fmt.Fprintf(s.output, "\nstagebot: the state backend or the disk failed for now; planning again in %s (retry %d of %d)\n\n", wait, attempt, r.planRetries)
		r.pause(ctx, wait)
		if ranOutOfSpace(err) {
			// Terraform leaves its working files cut short (an empty
			// .terraform/terraform.tfstate): init makes them anew.
			os.RemoveAll(filepath.Join(run.Dir, ".terraform"))
		}
		hasChanges, err = r.initAndPlan(ctx, s, run)
	}
	log := s.out.String()
	if cerr := s.close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		os.Remove(filepath.Join(run.root(), run.planName()))
		var re *RunError
		if errors.As(err, &re) {
			re.Steps = steps
		}
		return nil, err
	}
	// Terraform and everything it started are gone: the plan file is
	// moved out of the checkout before anything else reads it. A disk
	// that is full for now is waited for; what is kept is checked against
	// the file's hash wherever it is read, so a plan cut short by the
	// disk is never shown or applied.
	defer os.Remove(filepath.Join(run.root(), run.planName()))
	meta, err := r.keepPlan(ctx, run, run.planName())
	for attempt := 1; attempt <= r.planRetries && ranOutOfSpace(err) && ctx.Err() == nil; attempt++ {
		r.pause(ctx, r.planRetryWait<<(attempt-1))
		meta, err = r.keepPlan(ctx, run, run.planName())
	}
	if err != nil {
		return nil, err
	}
	plan, text, err := r.show(ctx, run, meta)
	if err != nil {
		return nil, err
	}
	res = &PlanResult{Meta: meta, HasChanges: hasChanges, JSON: plan, Text: text, Log: log, RunID: runID, Engine: run.chosen.String(), Steps: steps}
	if err := r.postPlan(ctx, run, res, logFile); err != nil {
		return nil, err
	}
	// The log was redacted as it was written, with what was known then;
	// the plan's own sensitive values are known now.
	if logFile != "" {
		if err := redactFile(logFile, red.With(redact.PlanValues(plan)...)); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// postPlan runs the stage's post_plan steps on the kept plan, in a
// session of their own, and adds what they printed to the plan's log. A
// step that blocks takes the plan back: it is shown, and cannot be
// applied.
func (r *Runner) postPlan(ctx context.Context, run Run, res *PlanResult, logFile string) error {
	if len(run.Steps.Of(config.PostPlan)) == 0 {
		return nil
	}
	s, err := r.open(ctx, run, opPlan, "")
	if err != nil {
		return err
	}
	defer s.close()
	files, done, err := r.stepPlanFiles(ctx, s, res.Meta, func(string) (*tfjson.Plan, error) { return res.JSON, nil })
	if err != nil {
		return err
	}
	defer done()
	red := r.secrets.With(run.Redact.Values()...).With(redact.PlanValues(res.JSON)...)
	log, closeLog := appendLog(logFile, red)
	defer closeLog()
	res.Steps = append(res.Steps, r.runSteps(ctx, s, run, config.PostPlan, opPlan, files, red, log)...)
	if res.Blocked() != nil {
		return r.forgetPlan(ctx, run.Repo, run.PR, run.Stage)
	}
	return nil
}

func (r *Runner) initAndPlan(ctx context.Context, s *session, run Run) (bool, error) {
	config, err := r.backendConfig(run)
	if err != nil {
		return false, &RunError{Stage: run.Stage, Step: "init", Err: err}
	}
	// An instance planned in a checkout where another instance of its
	// stage was (a lane) switches the backend instead of running init
	// again (see sharedInits).
	share := run.Instance != "" && r.sharesInits(run)
	shared := share && r.inits.switchTo(run, s.bin, config, s.lease.UID, s.lease.GID)
	if !shared {
		if err := r.initWith(ctx, s.tf, run, config); err != nil {
			return false, &RunError{Stage: run.Stage, Step: "init", Output: s.out.String(), Err: err}
		}
		if share {
			r.inits.remember(run, s.bin, config)
		}
	}
	// A plan takes no state lock: many PRs plan one stage at once, and
	// none needs the lock to be right (an apply checks its saved plan
	// against the state, and holds the lock).
	opts, err := r.planOptions(run, tfexec.Out(filepath.Base(run.planName())), tfexec.Lock(false))
	if err != nil {
		return false, err
	}
	hasChanges, err := s.tf.Plan(ctx, opts...)
	if err != nil && shared && ctx.Err() == nil {
		// Whatever failed is seen again after a full init, which says
		// what it was.
		r.inits.forget(run.Dir)
		os.Remove(filepath.Join(run.Dir, ".terraform", backendStateFile))
		fmt.Fprintf(s.output, "\nstagebot: the plan failed with the backend switched from another instance's init; planning again after a full init\n\n")
		return r.initAndPlan(ctx, s, run)
	}
	if err != nil {
		return false, &RunError{Stage: run.Stage, Step: "plan", Output: s.out.String(), Err: ctxErr(ctx, err)}
	}
	return hasChanges, nil
}

// sharesInits reports whether an instance's init may serve the next
// instances planned in its checkout: not where the operator moved
// Terraform's data dir (in any variable a plan of the stage gets).
func (r *Runner) sharesInits(run Run) bool {
	_, moved := r.env(&sandbox.Lease{}, run.Stage, opPlan)["TF_DATA_DIR"]
	return !moved
}

// planOptions are a plan's options for run (its variables) after opts.
func (r *Runner) planOptions(run Run, opts ...tfexec.PlanOption) ([]tfexec.PlanOption, error) {
	if run.VarFile != "" {
		opts = append(opts, tfexec.VarFile(filepath.Join(run.root(), filepath.FromSlash(run.VarFile))))
	}
	if run.Instance != "" && declares(run.Dir, "instance") {
		opts = append(opts, tfexec.Var("instance="+run.Instance))
	}
	if dir, err := r.stateDirOf(run); err != nil {
		return nil, err
	} else if dir != "" && declares(run.Dir, "state_dir") {
		opts = append(opts, tfexec.Var("state_dir="+dir))
	}
	if run.Destroy {
		opts = append(opts, tfexec.Destroy(true))
	}
	for _, t := range run.Args.Targets {
		opts = append(opts, tfexec.Target(t))
	}
	for _, t := range run.Args.Replace {
		opts = append(opts, tfexec.Replace(t))
	}
	for _, v := range run.Args.Vars {
		opts = append(opts, tfexec.Var(v))
	}
	if run.Args.NoRefresh {
		opts = append(opts, tfexec.Refresh(false))
	}
	return opts, nil
}

// show reads the kept plan of meta as JSON and as text, from a copy made
// for this run that is checked against the recorded hash.
func (r *Runner) show(ctx context.Context, run Run, meta PlanMeta) (*tfjson.Plan, string, error) {
	s, err := r.open(ctx, run, opPlan, "")
	if err != nil {
		return nil, "", err
	}
	defer s.close()
	file, done, err := r.planCopy(ctx, s, meta)
	if err != nil {
		return nil, "", err
	}
	defer done()
	// Show's output stays out of the log: its JSON holds sensitive values
	// in clear. Its errors are kept for the comment.
	var errs strings.Builder
	s.tf.SetStdout(io.Discard)
	s.tf.SetStderr(&errs)
	plan, err := s.tf.ShowPlanFile(ctx, file)
	if err != nil {
		return nil, "", &RunError{Stage: run.Stage, Step: "show", Output: errs.String(), Err: ctxErr(ctx, err)}
	}
	text, err := s.tf.ShowPlanFileRaw(ctx, file)
	if err != nil {
		return nil, "", &RunError{Stage: run.Stage, Step: "show", Output: errs.String(), Err: ctxErr(ctx, err)}
	}
	return plan, text, nil
}

// planCopy puts a checked copy of meta's plan where the session's
// Terraform may read it: its own temporary directory. done removes it.
func (r *Runner) planCopy(ctx context.Context, s *session, meta PlanMeta) (string, func(), error) {
	dir, doneDir, err := s.tmpDir()
	if err != nil {
		return "", func() {}, err
	}
	file := filepath.Join(dir, "stagebot-"+safe(meta.Stage)+".tfplan")
	done := func() { os.Remove(file); doneDir() }
	os.Remove(file)
	if err := r.copyPlan(ctx, meta, file, s.lease.UID, s.lease.GID); err != nil {
		done()
		return "", func() {}, err
	}
	return file, done, nil
}

// tmpDir is where the session's Terraform and steps are given files: the
// lease's own temporary directory, or, not isolated, one made for the
// caller, which done removes.
func (s *session) tmpDir() (string, func(), error) {
	if s.lease.Tmp != "" {
		return s.lease.Tmp, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "stagebot-plan-")
	if err != nil {
		return "", func() {}, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}

// backendConfig is run's backend configuration as init is given it
// (StateDirVar filled in).
func (r *Runner) backendConfig(run Run) (map[string]string, error) {
	config := make(map[string]string, len(run.BackendConfig))
	for k, v := range run.BackendConfig {
		v, err := r.backendValue(run, k, v)
		if err != nil {
			return nil, err
		}
		config[k] = v
	}
	return config, nil
}

func (r *Runner) init(ctx context.Context, tf *tfexec.Terraform, run Run) error {
	config, err := r.backendConfig(run)
	if err != nil {
		return err
	}
	return r.initWith(ctx, tf, run, config)
}

// initWith runs init for run with its backend configuration (see
// backendConfig).
func (r *Runner) initWith(ctx context.Context, tf *tfexec.Terraform, run Run, config map[string]string) error {
	if !r.sandbox.Isolated() {
		// Not isolated, init writes the shared cache itself.
		unlock, err := r.lockPluginCache(ctx)
		if err != nil {
			return err
		}
		defer unlock()
	}
	opts := []tfexec.InitOption{tfexec.Upgrade(false)}
	if run.Instance != "" {
		// The checkout's .terraform may hold another instance's backend.
		opts = append(opts, tfexec.Reconfigure(true))
	}
	for _, k := range slices.Sorted(maps.Keys(config)) {
		opts = append(opts, tfexec.BackendConfig(k+"="+config[k]))
	}
	return ctxErr(ctx, tf.Init(ctx, opts...))
}

// ctxErr names a timeout or cancellation instead of Terraform's exit status.
func ctxErr(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("timed out; Terraform was interrupted so it could release its state lock: %w", err)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("cancelled (the bot is stopping or a newer commit arrived); Terraform was interrupted so it could release its state lock: %w", err)
	}
	return err
}

// redactFile rewrites a log file with secrets redacted.
func redactFile(path string, secrets *redact.Set) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if out := secrets.Redact(string(b)); out != string(b) {
		return os.WriteFile(path, []byte(out), 0o600)
	}
	return nil
}

// declares reports whether the module in dir declares variable name.
func declares(dir, name string) bool {
	mod, _ := tfconfig.LoadModule(dir)
	return mod != nil && mod.Variables[name] != nil
}

// pause waits d, or until ctx ends.
func (r *Runner) pause(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

var (
	noSpace         = regexp.MustCompile(`(?i)no space left on device|disk quota exceeded`)
	lockHeld        = regexp.MustCompile(`Error acquiring the state lock`)
	backendFailures = regexp.MustCompile(`(?i)\b50[0234]\b|service unavailable|bad gateway|gateway time-?out|internal server error|SlowDown|RequestTimeout|connection reset by peer|connection refused|i/o timeout|TLS handshake timeout|giving up after \d+ attempt`)
	aboutState      = regexp.MustCompile(`(?i)state|backend|workspace`)
)

// ranOutOfSpace reports whether err is a full disk's: its message, or the
// output of the run it ended.
func ranOutOfSpace(err error) bool {
	if err == nil {
		return false
	}
	var re *RunError
	return noSpace.MatchString(err.Error()) || errors.As(err, &re) && noSpace.MatchString(re.Output)
}

// transient reports whether a failed init or plan may succeed if run
// again: the state lock was held, the state backend failed the way a busy
// or restarting server does, or the disk was full.
func transient(err error) bool {
	var re *RunError
	if !errors.As(err, &re) || (re.Step != "init" && re.Step != "plan") || errors.Is(re.Err, context.Canceled) || errors.Is(re.Err, context.DeadlineExceeded) {
		return false
	}
	if ranOutOfSpace(err) {
		return true
	}
	out := re.Output
	if i := strings.Index(out, "Error: "); i >= 0 {
		out = out[i:] // what Terraform says went wrong, not what it did before
	}
	return lockHeld.MatchString(out) || (aboutState.MatchString(out) && backendFailures.MatchString(out))
}
