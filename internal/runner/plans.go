package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
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

// keepPlan moves the plan Terraform wrote in the checkout (name, relative
// to root) into the bot's plan files, hashing it (and sealing it, with plan
// keys) on the way, and records it. It is read through root: a symlink the
// PR's code left cannot lead out of the checkout.
// The plan file stays in the checkout; the caller removes it.
func (r *Runner) keepPlan(ctx context.Context, run Run, name string) (PlanMeta, error) {
	rt, err := os.OpenRoot(run.root())
	if err != nil {
		return PlanMeta{}, err
	}
	defer rt.Close()
	src, err := rt.Open(name)
	if err != nil {
		return PlanMeta{}, fmt.Errorf("read the plan of stage %s: %w", run.Stage, err)
	}
	defer src.Close()
	if st, err := src.Stat(); err != nil || !st.Mode().IsRegular() {
		return PlanMeta{}, fmt.Errorf("the plan of stage %s is not a file", run.Stage)
	}
	data, err := io.ReadAll(src)
	if err != nil {
		return PlanMeta{}, fmt.Errorf("keep the plan of stage %s: %w", run.Stage, err)
	}
	sum := sha256.Sum256(data)
	meta := PlanMeta{Repo: run.Repo, PR: run.PR, Stage: run.Stage, SHA256: hex.EncodeToString(sum[:]), HeadSHA: run.HeadSHA, BaseSHA: run.BaseSHA, CreatedAt: time.Now().UTC()}
	if r.keys != nil {
		if data, err = r.keys.Seal(data, sealContext(meta)); err != nil {
			return PlanMeta{}, fmt.Errorf("seal the plan of stage %s: %w", run.Stage, err)
		}
	}
	// Which engine made it (tofu, terraform@1.13.3): only that one may
	// apply it.
	if err := r.files.PutPlanFile(context.WithoutCancel(ctx), planKeyOf(meta), madeBy(run), data); err != nil {
		return PlanMeta{}, fmt.Errorf("keep the plan of stage %s: %w", run.Stage, err)
	}
	if err := r.plans.SavePlan(context.WithoutCancel(ctx), meta); err != nil {
		return PlanMeta{}, fmt.Errorf("record the plan of stage %s: %w", run.Stage, err)
	}
	return meta, nil
}

func planKeyOf(m PlanMeta) PlanKey { return PlanKey{Repo: m.Repo, PR: m.PR, Stage: m.Stage} }

// sealContext binds a sealed plan to its PR stage and content: a blob moved
// to another PR or stage, or swapped for another plan, does not open.
func sealContext(m PlanMeta) []byte {
	return []byte(fmt.Sprintf("%s#%d/%s@%s", m.Repo, m.PR, m.Stage, m.SHA256))
}

// copyPlan copies the kept plan of meta to dst (in the sandbox's own
// directory, for show or apply), opening its seal and verifying that it is
// the file that was planned and shown. The copy is what Terraform reads:
// nothing can change it between the check and the use.
func (r *Runner) copyPlan(ctx context.Context, meta PlanMeta, dst string, uid, gid int) error {
	data, err := r.files.PlanFile(ctx, planKeyOf(meta))
	if errors.Is(err, os.ErrNotExist) {
		return &StaleError{Reason: fmt.Sprintf("the plan file of stage %s is gone", meta.Stage)}
	}
	if err != nil {
		return err
	}
	if r.keys != nil {
		if data, err = r.keys.Open(data, sealContext(meta)); err != nil {
			return &StaleError{Reason: fmt.Sprintf("the plan file of stage %s cannot be used: %v", meta.Stage, err)}
		}
	}
	if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != meta.SHA256 {
		return &StaleError{Reason: fmt.Sprintf("the plan file of stage %s changed since it was made", meta.Stage)}
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	if uid != 0 {
		return os.Chown(dst, uid, gid)
	}
	return nil
}

// forgetPlan deletes a stage's kept plan and its record.
func (r *Runner) forgetPlan(ctx context.Context, repo string, pr int, stage string) error {
	r.files.DeletePlanFile(context.WithoutCancel(ctx), PlanKey{Repo: repo, PR: pr, Stage: stage})
	return r.plans.DeletePlan(context.WithoutCancel(ctx), repo, pr, stage)
}
