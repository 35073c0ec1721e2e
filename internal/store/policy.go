package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// policyTable records, per saved plan (by its hash), what the stage's
// policies said of it, and who approved it despite its denials: the
// record /apply reads, and the audit of every approval.
const policyTable = `CREATE TABLE IF NOT EXISTS stagebot_policy_checks (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	plan_sha256 TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	deny TEXT NOT NULL,
	checked_at TIMESTAMP NOT NULL,
	approved_by TEXT NOT NULL DEFAULT '',
	approved_at TIMESTAMP,
	PRIMARY KEY (repo, pr, stage, plan_sha256)
)`

// PolicyCheck is what the policies said of one saved plan.
type PolicyCheck struct {
	PlanSHA256 string
	HeadSHA    string
	// Deny are the deny messages (redacted); none means the plan passed.
	Deny []string
	// ApprovedBy is the policy owner who approved the plan despite its
	// denials ("" when nobody did), at ApprovedAt.
	ApprovedBy string
	ApprovedAt time.Time
}

// Allowed reports whether the plan may be applied as far as the policies
// go: it passed, or an owner approved it.
func (c PolicyCheck) Allowed() bool { return len(c.Deny) == 0 || c.ApprovedBy != "" }

// RecordPolicyCheck records the policies' verdict on a saved plan. An
// approval already given to this very plan is kept.
func (s *Store) RecordPolicyCheck(ctx context.Context, repo string, pr int, stage string, c PolicyCheck) error {
	deny, err := json.Marshal(append([]string{}, c.Deny...))
	if err != nil {
		return err
	}
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_policy_checks (repo, pr, stage, plan_sha256, head_sha, deny, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (repo, pr, stage, plan_sha256) DO UPDATE SET deny = excluded.deny, checked_at = excluded.checked_at`,
		repo, pr, stage, c.PlanSHA256, c.HeadSHA, string(deny), time.Now().UTC()); err != nil {
		return fmt.Errorf("record the policy check of stage %s of %s#%d: %w", stage, repo, pr, err)
	}
	return nil
}

// PolicyCheckOf returns the verdict on the saved plan with that hash, and
// false when its policies were never checked.
func (s *Store) PolicyCheckOf(ctx context.Context, repo string, pr int, stage, planSHA256 string) (PolicyCheck, bool, error) {
	return s.policyCheck(ctx, `SELECT plan_sha256, head_sha, deny, approved_by, approved_at FROM stagebot_policy_checks WHERE repo = $1 AND pr = $2 AND stage = $3 AND plan_sha256 = $4`, repo, pr, stage, planSHA256)
}

// ApprovedAtHead returns the newest approval of a plan of the stage made
// for the PR at headSHA ("" when there is none): what a merge of that head
// carries over to the merge commit's plan.
func (s *Store) ApprovedAtHead(ctx context.Context, repo string, pr int, stage, headSHA string) (PolicyCheck, bool, error) {
	return s.policyCheck(ctx, `SELECT plan_sha256, head_sha, deny, approved_by, approved_at FROM stagebot_policy_checks
		WHERE repo = $1 AND pr = $2 AND stage = $3 AND head_sha = $4 AND approved_by <> '' ORDER BY approved_at DESC LIMIT 1`, repo, pr, stage, headSHA)
}

func (s *Store) policyCheck(ctx context.Context, query string, args ...any) (PolicyCheck, bool, error) {
	var c PolicyCheck
	var deny string
	var at sql.NullTime
	err := s.db.QueryRowContext(ctx, query, args...).Scan(&c.PlanSHA256, &c.HeadSHA, &deny, &c.ApprovedBy, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("read a policy check: %w", err)
	}
	if err := json.Unmarshal([]byte(deny), &c.Deny); err != nil {
		return c, false, fmt.Errorf("read a policy check: %w", err)
	}
	c.ApprovedAt = at.Time
	return c, true, nil
}

// ApprovePolicy records that user approved the saved plan with that hash
// despite its policy denials. It reports false when that plan was never
// checked.
func (s *Store) ApprovePolicy(ctx context.Context, repo string, pr int, stage, planSHA256, user string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE stagebot_policy_checks SET approved_by = $1, approved_at = $2 WHERE repo = $3 AND pr = $4 AND stage = $5 AND plan_sha256 = $6`,
		user, time.Now().UTC(), repo, pr, stage, planSHA256)
	if err != nil {
		return false, fmt.Errorf("record the policy approval of stage %s of %s#%d: %w", stage, repo, pr, err)
	}
	n, err := res.RowsAffected()
	return n > 0, err
}
