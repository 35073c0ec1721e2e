package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/hashicorp/terraform-exec/tfexec"
	tfjson "github.com/hashicorp/terraform-json"
)

// Run identifies one stage run.
type Run struct {
	Repo  string // owner/name, or a local label
	PR    int
	Stage string
	// Dir is the stage's directory in the checkout (absolute).
	Dir     string
	HeadSHA string
	BaseSHA string
	// BackendConfig is passed to init as -backend-config=key=value.
	BackendConfig map[string]string
}

// PlanMeta is what the bot keeps with a saved plan file: apply runs it only
// when all of it still holds.
type PlanMeta struct {
	Stage     string    `json:"stage"`
	SHA256    string    `json:"sha256"`
	HeadSHA   string    `json:"head_sha"`
	BaseSHA   string    `json:"base_sha"`
	CreatedAt time.Time `json:"created_at"`
}

// PlanResult is a plan and what the comment shows of it.
type PlanResult struct {
	Meta       PlanMeta
	PlanFile   string
	HasChanges bool
	JSON       *tfjson.Plan
	// Text is `terraform show` of the plan: what reviewers read.
	Text string
	// Log is everything init and plan printed.
	Log string
}

// RunError is a Terraform command that failed; Output is what it printed
// (for the comment, after redaction).
type RunError struct {
	Stage  string
	Step   string // init, plan, show, apply, output
	Output string
	Err    error
}

func (e *RunError) Error() string {
	return fmt.Sprintf("terraform %s of stage %s failed: %v", e.Step, e.Stage, e.Err)
}

func (e *RunError) Unwrap() error { return e.Err }

// ErrStalePlan means the saved plan no longer matches what would be applied.
var ErrStalePlan = errors.New("the saved plan is stale: re-plan")

const (
	planFileName = "stagebot.tfplan"
	metaFileName = "stagebot.tfplan.json"
)

// Plan runs init and plan -out in the stage dir and reads the plan back as
// JSON and as text.
func (r *Runner) Plan(ctx context.Context, run Run) (*PlanResult, error) {
	if err := r.checkRequiredVersion(run); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "init", Err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	l, err := r.start(ctx, run, "plan")
	if err != nil {
		return nil, err
	}
	defer l.Close()
	tf, buf := l.tf, &l.out
	if err := r.init(ctx, tf, run); err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "init", Output: buf.String(), Err: err}
	}
	planFile := filepath.Join(run.Dir, planFileName)
	os.Remove(planFile)
	os.Remove(filepath.Join(run.Dir, metaFileName))
	hasChanges, err := tf.Plan(ctx, tfexec.Out(planFile), tfexec.Lock(true), tfexec.LockTimeout("60s"))
	if err != nil {
		os.Remove(planFile)
		return nil, &RunError{Stage: run.Stage, Step: "plan", Output: buf.String(), Err: ctxErr(ctx, err)}
	}
	// Terraform stores sensitive values in the plan in clear.
	if err := os.Chmod(planFile, 0o600); err != nil {
		return nil, err
	}
	sum, err := fileSHA256(planFile)
	if err != nil {
		return nil, err
	}
	meta := PlanMeta{Stage: run.Stage, SHA256: sum, HeadSHA: run.HeadSHA, BaseSHA: run.BaseSHA, CreatedAt: time.Now().UTC()}
	if err := writeMeta(filepath.Join(run.Dir, metaFileName), meta); err != nil {
		return nil, err
	}
	// The same handle (one version check per run), but `show` output stays
	// out of the log: its JSON holds sensitive values in clear.
	tf.SetStdout(io.Discard)
	tf.SetStderr(buf)
	show := tf
	planJSON, err := show.ShowPlanFile(ctx, planFile)
	if err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "show", Output: buf.String(), Err: ctxErr(ctx, err)}
	}
	text, err := show.ShowPlanFileRaw(ctx, planFile)
	if err != nil {
		return nil, &RunError{Stage: run.Stage, Step: "show", Output: buf.String(), Err: ctxErr(ctx, err)}
	}
	return &PlanResult{Meta: meta, PlanFile: planFile, HasChanges: hasChanges, JSON: planJSON, Text: text, Log: buf.String()}, nil
}

func (r *Runner) init(ctx context.Context, tf *tfexec.Terraform, run Run) error {
	unlock, err := r.lockPluginCache(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	opts := []tfexec.InitOption{tfexec.Upgrade(false)}
	for _, k := range slices.Sorted(maps.Keys(run.BackendConfig)) {
		opts = append(opts, tfexec.BackendConfig(k+"="+run.BackendConfig[k]))
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

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeMeta(path string, m PlanMeta) error {
	b, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func readMeta(path string) (PlanMeta, error) {
	var m PlanMeta
	b, err := os.ReadFile(path)
	if err != nil {
		return m, err
	}
	return m, json.Unmarshal(b, &m)
}
