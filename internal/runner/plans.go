package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// PlanMeta is what the bot keeps of a saved plan, out of the PR's reach (in
// the database): apply runs the plan file only when all of it still holds.
type PlanMeta struct {
	Repo      string
	PR        int
	Stage     string
	SHA256    string
	HeadSHA   string
	BaseSHA   string
	CreatedAt time.Time
	// Posted says the plan's comment was posted: only then may it be
	// applied.
	Posted bool
}

// PlanStore keeps the record of each PR stage's saved plan.
type PlanStore interface {
	SavePlan(ctx context.Context, m PlanMeta) error
	// Plan returns the record, and false when there is none.
	Plan(ctx context.Context, repo string, pr int, stage string) (PlanMeta, bool, error)
	// MarkPosted records that the plan with this hash was shown.
	MarkPosted(ctx context.Context, repo string, pr int, stage, sha256 string) error
	DeletePlan(ctx context.Context, repo string, pr int, stage string) error
}

// MemoryPlans is a PlanStore in memory, for one process that keeps no
// plans across restarts (bot plan).
type MemoryPlans struct {
	mu    sync.Mutex
	plans map[string]PlanMeta
}

func planKey(repo string, pr int, stage string) string {
	return fmt.Sprintf("%s#%d/%s", repo, pr, stage)
}

// SavePlan records m, replacing the stage's previous plan.
func (p *MemoryPlans) SavePlan(_ context.Context, m PlanMeta) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.plans == nil {
		p.plans = map[string]PlanMeta{}
	}
	p.plans[planKey(m.Repo, m.PR, m.Stage)] = m
	return nil
}

// Plan returns the stage's plan record.
func (p *MemoryPlans) Plan(_ context.Context, repo string, pr int, stage string) (PlanMeta, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.plans[planKey(repo, pr, stage)]
	return m, ok, nil
}

// MarkPosted records that the stage's plan with this hash was shown.
func (p *MemoryPlans) MarkPosted(_ context.Context, repo string, pr int, stage, sha256 string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := planKey(repo, pr, stage)
	if m, ok := p.plans[k]; ok && m.SHA256 == sha256 {
		m.Posted = true
		p.plans[k] = m
	}
	return nil
}

// DeletePlan forgets the stage's plan.
func (p *MemoryPlans) DeletePlan(_ context.Context, repo string, pr int, stage string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.plans, planKey(repo, pr, stage))
	return nil
}

// planPath is where the bot keeps a PR stage's saved plan: under the data
// dir, mode 0600, never in a checkout the PR's code can write.
func (r *Runner) planPath(repo string, pr int, stage string) string {
	return filepath.Join(r.dataDir, "plans", safe(strings.ReplaceAll(repo, "/", "__")), fmt.Sprintf("pr-%d", pr), safe(stage)+".tfplan")
}

// keepPlan moves the plan Terraform wrote in the checkout (name, relative
// to root) into the bot's plan store, hashing it on the way, and records
// it. It is read through root: a symlink the PR's code left cannot lead
// out of the checkout.
func (r *Runner) keepPlan(ctx context.Context, run Run, name string) (PlanMeta, error) {
	rt, err := os.OpenRoot(run.root())
	if err != nil {
		return PlanMeta{}, err
	}
	defer rt.Close()
	defer rt.Remove(name)
	src, err := rt.Open(name)
	if err != nil {
		return PlanMeta{}, fmt.Errorf("read the plan of stage %s: %w", run.Stage, err)
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() {
		return PlanMeta{}, fmt.Errorf("the plan of stage %s is not a file", run.Stage)
	}
	dst := r.planPath(run.Repo, run.PR, run.Stage)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return PlanMeta{}, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".plan-*")
	if err != nil {
		return PlanMeta{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return PlanMeta{}, fmt.Errorf("keep the plan of stage %s: %w", run.Stage, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return PlanMeta{}, err
	}
	// Which engine made it: only that one may apply it.
	if err := os.WriteFile(dst+".engine", []byte(engineKey(run.Engine)), 0o600); err != nil {
		return PlanMeta{}, err
	}
	meta := PlanMeta{Repo: run.Repo, PR: run.PR, Stage: run.Stage, SHA256: hex.EncodeToString(h.Sum(nil)), HeadSHA: run.HeadSHA, BaseSHA: run.BaseSHA, CreatedAt: time.Now().UTC()}
	if err := r.plans.SavePlan(context.WithoutCancel(ctx), meta); err != nil {
		return PlanMeta{}, fmt.Errorf("record the plan of stage %s: %w", run.Stage, err)
	}
	return meta, nil
}

// copyPlan copies the kept plan of meta to dst (in the sandbox's own
// directory, for show or apply), verifying on the way that it is the file
// that was planned and shown. The copy is what Terraform reads: nothing can
// change it between the check and the use.
func (r *Runner) copyPlan(meta PlanMeta, dst string, uid, gid int) error {
	src, err := os.Open(r.planPath(meta.Repo, meta.PR, meta.Stage))
	if errors.Is(err, os.ErrNotExist) {
		return &StaleError{Reason: fmt.Sprintf("the plan file of stage %s is gone", meta.Stage)}
	}
	if err != nil {
		return err
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(out, h), src)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != meta.SHA256 {
		os.Remove(dst)
		return &StaleError{Reason: fmt.Sprintf("the plan file of stage %s changed since it was made", meta.Stage)}
	}
	if uid != 0 {
		return os.Chown(dst, uid, gid)
	}
	return nil
}

// forgetPlan deletes a stage's kept plan and its record.
func (r *Runner) forgetPlan(ctx context.Context, repo string, pr int, stage string) error {
	os.Remove(r.planPath(repo, pr, stage))
	os.Remove(r.planPath(repo, pr, stage) + ".engine")
	return r.plans.DeletePlan(context.WithoutCancel(ctx), repo, pr, stage)
}
