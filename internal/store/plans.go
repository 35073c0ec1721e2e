package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stagebot/stagebot/internal/runner"
)

// Plans keeps the record of each PR stage's saved plan (its file's SHA-256,
// head and base) in the database, where the PR's Terraform cannot reach it.
// It implements runner.PlanStore.
type Plans struct{ s *Store }

// Plans returns the plan records of the store.
func (s *Store) Plans() Plans { return Plans{s} }

var _ runner.PlanStore = Plans{}

const plansTable = `CREATE TABLE IF NOT EXISTS stagebot_plans (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	sha256 TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	base_sha TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL,
	posted INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (repo, pr, stage)
)`

// SavePlan records a plan, replacing the stage's previous one.
func (p Plans) SavePlan(ctx context.Context, m runner.PlanMeta) error {
	if _, err := p.s.db.ExecContext(ctx,
		`INSERT INTO stagebot_plans (repo, pr, stage, sha256, head_sha, base_sha, created_at, posted) VALUES ($1, $2, $3, $4, $5, $6, $7, 0)
		 ON CONFLICT (repo, pr, stage) DO UPDATE SET sha256 = excluded.sha256, head_sha = excluded.head_sha, base_sha = excluded.base_sha, created_at = excluded.created_at, posted = 0`,
		m.Repo, m.PR, m.Stage, m.SHA256, m.HeadSHA, m.BaseSHA, m.CreatedAt.UTC()); err != nil {
		return fmt.Errorf("record plan of stage %s of %s#%d: %w", m.Stage, m.Repo, m.PR, err)
	}
	return nil
}

// Plan returns a stage's plan record, and false when there is none.
func (p Plans) Plan(ctx context.Context, repo string, pr int, stage string) (runner.PlanMeta, bool, error) {
	m := runner.PlanMeta{Repo: repo, PR: pr, Stage: stage}
	var posted int
	err := p.s.db.QueryRowContext(ctx, `SELECT sha256, head_sha, base_sha, created_at, posted FROM stagebot_plans WHERE repo = $1 AND pr = $2 AND stage = $3`, repo, pr, stage).
		Scan(&m.SHA256, &m.HeadSHA, &m.BaseSHA, &m.CreatedAt, &posted)
	m.Posted = posted == 1
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read plan of stage %s of %s#%d: %w", stage, repo, pr, err)
	}
	return m, true, nil
}

// MarkPosted records that the plan with this hash was shown to reviewers.
func (p Plans) MarkPosted(ctx context.Context, repo string, pr int, stage, sha256 string) error {
	if _, err := p.s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE stagebot_plans SET posted = 1 WHERE repo = $1 AND pr = $2 AND stage = $3 AND sha256 = $4`, repo, pr, stage, sha256); err != nil {
		return fmt.Errorf("record plan of stage %s of %s#%d as shown: %w", stage, repo, pr, err)
	}
	return nil
}

// DeletePlan forgets a stage's plan.
func (p Plans) DeletePlan(ctx context.Context, repo string, pr int, stage string) error {
	if _, err := p.s.db.ExecContext(ctx, `DELETE FROM stagebot_plans WHERE repo = $1 AND pr = $2 AND stage = $3`, repo, pr, stage); err != nil {
		return fmt.Errorf("delete plan of stage %s of %s#%d: %w", stage, repo, pr, err)
	}
	return nil
}

// PlanView is a PR's saved plan with what its policies said of it.
type PlanView struct {
	runner.PlanMeta
	Policy   PolicyCheck
	Policied bool
}

// PlansOf returns the saved plans of a PR, by stage.
func (s *Store) PlansOf(ctx context.Context, repo string, pr int) ([]PlanView, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT stage, sha256, head_sha, base_sha, created_at, posted FROM stagebot_plans WHERE repo = $1 AND pr = $2 ORDER BY stage`, repo, pr)
	if err != nil {
		return nil, fmt.Errorf("read the plans of %s#%d: %w", repo, pr, err)
	}
	var out []PlanView
	for rows.Next() {
		v := PlanView{PlanMeta: runner.PlanMeta{Repo: repo, PR: pr}}
		var posted int
		if err := rows.Scan(&v.Stage, &v.SHA256, &v.HeadSHA, &v.BaseSHA, &v.CreatedAt, &posted); err != nil {
			rows.Close()
			return nil, err
		}
		v.Posted = posted == 1
		out = append(out, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if out[i].Policy, out[i].Policied, err = s.PolicyCheckOf(ctx, repo, pr, out[i].Stage, out[i].SHA256); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// partialPlansTable records the plans made with -target: Terraform marks
// them incomplete in their JSON, OpenTofu does not, so the bot keeps its
// own word that applying one leaves changes out.
const partialPlansTable = `CREATE TABLE IF NOT EXISTS stagebot_partial_plans (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	plan_sha256 TEXT NOT NULL,
	planned_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, pr, stage, plan_sha256)
)`

// MarkPartial records that the plan planSHA256 of stage leaves changes
// out (a targeted plan).
func (s *Store) MarkPartial(ctx context.Context, repo string, pr int, stage, planSHA256 string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_partial_plans (repo, pr, stage, plan_sha256, planned_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
		repo, pr, stage, planSHA256, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the targeted plan of %s: %w", stage, err)
	}
	return nil
}

// Partial reports whether the plan planSHA256 of stage was recorded as
// leaving changes out.
func (s *Store) Partial(ctx context.Context, repo string, pr int, stage, planSHA256 string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM stagebot_partial_plans WHERE repo = $1 AND pr = $2 AND stage = $3 AND plan_sha256 = $4`,
		repo, pr, stage, planSHA256).Scan(&n); err != nil {
		return false, fmt.Errorf("read the targeted plans of %s: %w", stage, err)
	}
	return n > 0, nil
}
