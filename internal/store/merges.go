package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const mergeTables = `CREATE TABLE IF NOT EXISTS stagebot_merges (
	repo TEXT NOT NULL,
	merge_sha TEXT NOT NULL,
	pr INTEGER NOT NULL,
	state TEXT NOT NULL,
	reason TEXT NOT NULL,
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, merge_sha)
)`

const appliedCommitsTable = `CREATE TABLE IF NOT EXISTS stagebot_applied_commits (
	repo TEXT NOT NULL,
	stage TEXT NOT NULL,
	sha TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, stage)
)`

const applyResultsTable = `CREATE TABLE IF NOT EXISTS stagebot_apply_results (
	repo TEXT NOT NULL,
	stage TEXT NOT NULL,
	trigger_id TEXT NOT NULL,
	pr INTEGER NOT NULL,
	head_sha TEXT NOT NULL,
	ok INTEGER NOT NULL,
	body TEXT NOT NULL,
	applied_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, stage, trigger_id)
)`

// Merge states.
const (
	MergePending    = "pending"    // waits for a lock or a running apply
	MergeRunning    = "running"    // being applied
	MergeApplied    = "applied"    // every stage applied
	MergeSuperseded = "superseded" // a newer commit is (or will be) applied instead
	MergeRefused    = "refused"    // did not meet the apply rules
	MergeStopped    = "stopped"    // a stage failed or was interrupted: a person decides
)

// Merge is the record of one merge commit's apply.
type Merge struct {
	Repo, SHA string
	PR        int
	State     string
	Reason    string
	UpdatedAt time.Time
}

// Done reports whether the merge needs no more work from the bot.
func (m Merge) Done() bool { return m.State != MergePending && m.State != MergeRunning }

// ClaimMerge records that a merge commit is being applied. It returns the
// existing record and false when the commit is already recorded: a merge
// is applied once, however many deliveries (or replays) announce it.
func (s *Store) ClaimMerge(ctx context.Context, repo, sha string, pr int) (Merge, bool, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_merges (repo, merge_sha, pr, state, reason, updated_at) VALUES ($1, $2, $3, $4, '', $5) ON CONFLICT (repo, merge_sha) DO NOTHING`,
		repo, sha, pr, MergeRunning, time.Now().UTC())
	if err != nil {
		return Merge{}, false, fmt.Errorf("claim merge %s of %s: %w", sha, repo, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return Merge{Repo: repo, SHA: sha, PR: pr, State: MergeRunning}, true, nil
	}
	m, _, err := s.MergeRecord(ctx, repo, sha)
	return m, false, err
}

// MergeRecord returns a merge commit's record.
func (s *Store) MergeRecord(ctx context.Context, repo, sha string) (Merge, bool, error) {
	m := Merge{Repo: repo, SHA: sha}
	err := s.db.QueryRowContext(ctx, `SELECT pr, state, reason, updated_at FROM stagebot_merges WHERE repo = $1 AND merge_sha = $2`, repo, sha).
		Scan(&m.PR, &m.State, &m.Reason, &m.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read merge %s of %s: %w", sha, repo, err)
	}
	return m, true, nil
}

// SetMerge records a merge's state and why.
func (s *Store) SetMerge(ctx context.Context, repo, sha, state, reason string) error {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `UPDATE stagebot_merges SET state = $1, reason = $2, updated_at = $3 WHERE repo = $4 AND merge_sha = $5`,
		state, reason, time.Now().UTC(), repo, sha); err != nil {
		return fmt.Errorf("record merge %s of %s: %w", sha, repo, err)
	}
	return nil
}

// PendingMerges lists a repository's merges that wait, oldest first.
func (s *Store) PendingMerges(ctx context.Context, repo string) ([]Merge, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT merge_sha, pr, state, reason, updated_at FROM stagebot_merges WHERE repo = $1 AND state = $2 ORDER BY updated_at`, repo, MergePending)
	if err != nil {
		return nil, fmt.Errorf("list pending merges of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []Merge
	for rows.Next() {
		m := Merge{Repo: repo}
		if err := rows.Scan(&m.SHA, &m.PR, &m.State, &m.Reason, &m.UpdatedAt); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetAppliedCommit records the commit a stage was last applied from.
func (s *Store) SetAppliedCommit(ctx context.Context, repo, stage, sha string) error {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx),
		`INSERT INTO stagebot_applied_commits (repo, stage, sha, applied_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (repo, stage) DO UPDATE SET sha = excluded.sha, applied_at = excluded.applied_at`,
		repo, stage, sha, time.Now().UTC()); err != nil {
		return fmt.Errorf("record applied commit of stage %s of %s: %w", stage, repo, err)
	}
	return nil
}

// AppliedCommit returns the commit a stage was last applied from ("" when
// none).
func (s *Store) AppliedCommit(ctx context.Context, repo, stage string) (string, error) {
	var sha string
	err := s.db.QueryRowContext(ctx, `SELECT sha FROM stagebot_applied_commits WHERE repo = $1 AND stage = $2`, repo, stage).Scan(&sha)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read applied commit of stage %s of %s: %w", stage, repo, err)
	}
	return sha, nil
}

// ApplyResult is what one trigger's apply of a stage came to: a retry of
// that trigger reports it instead of applying again.
type ApplyResult struct {
	PR      int
	HeadSHA string
	OK      bool
	// Body is the apply comment that was (or was to be) posted.
	Body string
}

// RecordApplyResult records a trigger's apply of a stage. It is written
// whatever the job's context says: the apply happened.
func (s *Store) RecordApplyResult(ctx context.Context, repo, stage, trigger string, r ApplyResult) error {
	ok := 0
	if r.OK {
		ok = 1
	}
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx),
		`INSERT INTO stagebot_apply_results (repo, stage, trigger_id, pr, head_sha, ok, body, applied_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		 ON CONFLICT (repo, stage, trigger_id) DO UPDATE SET ok = excluded.ok, body = excluded.body, applied_at = excluded.applied_at`,
		repo, stage, trigger, r.PR, r.HeadSHA, ok, r.Body, time.Now().UTC()); err != nil {
		return fmt.Errorf("record apply result of stage %s of %s: %w", stage, repo, err)
	}
	return nil
}

// ApplyResultOf returns a trigger's recorded apply of a stage.
func (s *Store) ApplyResultOf(ctx context.Context, repo, stage, trigger string) (ApplyResult, bool, error) {
	var r ApplyResult
	var ok int
	err := s.db.QueryRowContext(ctx, `SELECT pr, head_sha, ok, body FROM stagebot_apply_results WHERE repo = $1 AND stage = $2 AND trigger_id = $3`, repo, stage, trigger).
		Scan(&r.PR, &r.HeadSHA, &ok, &r.Body)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read apply result of stage %s of %s: %w", stage, repo, err)
	}
	r.OK = ok == 1
	return r, true, nil
}
