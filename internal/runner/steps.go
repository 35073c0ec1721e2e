package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/redact"
)

// StepResult is what one of a stage's steps (stagebot.yaml steps) did.
type StepResult struct {
	Phase, Name string
	// Output is what the step printed, redacted, cut to MaxStepOutput.
	Output string
	// Failure says how it failed ("exit status 2", "timed out after
	// 2m0s"); empty when it succeeded.
	Failure  string
	WarnOnly bool
	Took     time.Duration
}

// Blocks reports whether the step failed in a way that fails its phase:
// it failed and is not warn_only.
func (s StepResult) Blocks() bool { return s.Failure != "" && !s.WarnOnly }

// blocking returns the first step of steps that blocks its phase.
func blocking(steps []StepResult) *StepResult {
	for i := range steps {
		if steps[i].Blocks() {
			return &steps[i]
		}
	}
	return nil
}

// StepError is a phase stopped by a failing step.
type StepError struct {
	Step StepResult
}

func (e *StepError) Error() string {
	return fmt.Sprintf("%s step %s failed: %s", e.Step.Phase, e.Step.Name, e.Step.Failure)
}

// MaxStepOutput bounds what one step's output keeps for the comment (the
// head and the tail of a longer one); MaxStepLog, what of it goes to the
// run's log. The rest is dropped as it comes: the bot never holds more.
const (
	MaxStepOutput = 64 << 10
	MaxStepLog    = 1 << 20
)

// stepFiles are the files a phase's steps are given.
type stepFiles struct {
	plan, planJSON string
}

// runSteps runs run's steps of phase in session s, one after the other,
// until one blocks the phase. Each runs by /bin/sh -c in the stage's
// directory, as the sandbox's user of the session, with op's environment
// (the same credentials Terraform gets) and STAGEBOT_* variables naming
// the stage, its directory and the phase's files. Its output, redacted
// with red as it comes, goes to log (a redacting writer of the run's log
// file, or nil) and to the results, each bounded.
func (r *Runner) runSteps(ctx context.Context, s *session, run Run, phase, op string, files stepFiles, red *redact.Set, log io.Writer) []StepResult {
	if log == nil {
		log = io.Discard
	}
	var out []StepResult
	for _, st := range run.Steps.Of(phase) {
		res := r.runStep(ctx, s, run, phase, op, st, files, red, log)
		out = append(out, res)
		if res.Blocks() || ctx.Err() != nil {
			break
		}
	}
	return out
}

func (r *Runner) runStep(ctx context.Context, s *session, run Run, phase, op string, st config.Step, files stepFiles, red *redact.Set, log io.Writer) StepResult {
	res := StepResult{Phase: phase, Name: st.Name, WarnOnly: st.WarnOnly}
	timeout := st.Timeout
	if timeout <= 0 {
		timeout = config.DefaultStepTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bin, extra, err := s.lease.Command("/bin/sh")
	if err != nil {
		res.Failure = err.Error()
		return res
	}
	cmd := exec.CommandContext(ctx, bin, "-c", st.Run)
	cmd.Dir = run.Dir
	env := r.env(s.lease, run.Stage, op)
	maps.Copy(env, extra)
	maps.Copy(env, map[string]string{
		"STAGEBOT_STAGE": run.Stage, "STAGEBOT_INSTANCE": run.Instance, "STAGEBOT_PHASE": phase,
		"STAGEBOT_STAGE_DIR": run.Dir, "STAGEBOT_REPO_ROOT": run.root(), "STAGEBOT_HEAD_SHA": run.HeadSHA,
		"STAGEBOT_PR": strconv.Itoa(run.PR), "STAGEBOT_TERRAFORM_BIN": s.bin,
		"STAGEBOT_PLAN_FILE": files.plan, "STAGEBOT_PLAN_JSON": files.planJSON,
	})
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Redacted before it is cut: a cut never leaves part of a secret.
	var buf bytes.Buffer
	w := red.Writer(&limited{w: &buf, n: 4 * MaxStepOutput})
	log = &bestEffort{w: log}
	fmt.Fprintf(log, "\nstagebot: %s step %s\n", phase, st.Name)
	cmd.Stdout = io.MultiWriter(w, &limited{w: log, n: MaxStepLog})
	cmd.Stderr = cmd.Stdout
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	w.Close()
	res.Took = time.Since(start)
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		res.Failure = fmt.Sprintf("timed out after %s", timeout)
	case ctx.Err() != nil:
		res.Failure = "cancelled"
	case err != nil:
		res.Failure = err.Error()
	}
	text, _ := headTailBytes(buf.String(), MaxStepOutput)
	res.Output = text
	if res.Failure != "" {
		fmt.Fprintf(log, "stagebot: %s step %s failed: %s\n", phase, st.Name, res.Failure)
	}
	return res
}

// limited writes the first n bytes to w and drops the rest.
type limited struct {
	w io.Writer
	n int
}

func (l *limited) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		l.w.Write(p[:k])
		l.n -= k
	}
	return len(p), nil
}

// headTailBytes cuts s to about max bytes: its head and tail, with a line
// that says what was left out.
func headTailBytes(s string, max int) (string, bool) {
	if len(s) <= max {
		return s, false
	}
	head, tail := s[:max/2], s[len(s)-max/2:]
	head = strings.ToValidUTF8(head, "")
	tail = strings.ToValidUTF8(tail, "")
	return head + fmt.Sprintf("\n… %d bytes left out …\n", len(s)-len(head)-len(tail)) + tail, true
}

// stepPlanFiles gives post_plan and pre_apply steps the plan: a copy of
// the kept plan file and its JSON (what show makes of the copy) in the
// session's temporary directory, the sandbox user's own. done removes
// them.
func (r *Runner) stepPlanFiles(ctx context.Context, s *session, meta PlanMeta, show func(file string) (*tfjson.Plan, error)) (stepFiles, func(), error) {
	file, doneCopy, err := r.planCopy(ctx, s, meta)
	if err != nil {
		return stepFiles{}, func() {}, err
	}
	files := stepFiles{plan: file, planJSON: strings.TrimSuffix(file, ".tfplan") + ".json"}
	done := func() { os.Remove(files.planJSON); doneCopy() }
	plan, err := show(file)
	if err == nil {
		err = writeStepJSON(s, files.planJSON, plan)
	}
	if err != nil {
		done()
		return stepFiles{}, func() {}, err
	}
	return files, done, nil
}

// appliedPlanJSON gives post_apply steps the applied plan's JSON, in the
// session's temporary directory (the plan file itself is spent). done
// removes it.
func appliedPlanJSON(s *session, run Run, applied *tfjson.Plan) (stepFiles, func(), error) {
	dir, done, err := s.tmpDir()
	if err != nil {
		return stepFiles{}, func() {}, err
	}
	files := stepFiles{planJSON: filepath.Join(dir, "stagebot-"+safe(run.Stage)+".json")}
	if err := writeStepJSON(s, files.planJSON, applied); err != nil {
		done()
		return stepFiles{}, func() {}, err
	}
	return files, func() { os.Remove(files.planJSON); done() }, nil
}

// writeStepJSON writes plan as JSON to path, owned by the session's user.
func writeStepJSON(s *session, path string, plan *tfjson.Plan) error {
	data, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	os.Remove(path)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if s.lease.UID != 0 {
		return os.Chown(path, s.lease.UID, s.lease.GID)
	}
	return nil
}

// appendLog opens a run's log file (path; "" for none) to append to it,
// redacting with red; done closes it. A log that cannot be opened takes
// nothing.
func appendLog(path string, red *redact.Set) (io.Writer, func()) {
	if path == "" {
		return io.Discard, func() {}
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return io.Discard, func() {}
	}
	w := red.Writer(f)
	return w, func() { w.Close(); f.Close() }
}
