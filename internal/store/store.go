// Package store keeps the bot's own state next to the queue: stage locks,
// the record of applies, and the record of saved plans. The SQL is the subset SQLite and PostgreSQL
// share.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Store is the bot's state.
type Store struct{ db *sql.DB }

// Open creates the tables when missing.
func Open(ctx context.Context, db *sql.DB) (*Store, error) {
	for _, stmt := range []string{
		`CREATE TABLE IF NOT EXISTS stagebot_locks (
			repo TEXT NOT NULL,
			stage TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head_sha TEXT NOT NULL,
			locked_at TIMESTAMP NOT NULL,
			PRIMARY KEY (repo, stage)
		)`,
		`CREATE TABLE IF NOT EXISTS stagebot_applies (
			repo TEXT NOT NULL,
			stage TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head_sha TEXT NOT NULL,
			applied_at TIMESTAMP NOT NULL
		)`,
		`CREATE INDEX IF NOT EXISTS stagebot_applies_stage ON stagebot_applies (repo, stage, applied_at)`,
		`CREATE TABLE IF NOT EXISTS stagebot_pr_leases (
			repo TEXT NOT NULL,
			pr INTEGER NOT NULL,
			holder TEXT NOT NULL,
			expires_at TIMESTAMP NOT NULL,
			PRIMARY KEY (repo, pr)
		)`,
		`CREATE TABLE IF NOT EXISTS stagebot_running_applies (
			repo TEXT NOT NULL,
			stage TEXT NOT NULL,
			pr INTEGER NOT NULL,
			head_sha TEXT NOT NULL,
			trigger_id TEXT NOT NULL,
			started_at TIMESTAMP NOT NULL,
			PRIMARY KEY (repo, stage)
		)`,
		plansTable,
		mergeTables,
		openChecksTable,
		appliedCommitsTable,
		applyResultsTable,
		reposTable,
		driftTable,
		policyTable,
		planFilesTable,
		sectionsTable,
		unitChecksTable,
		runsTable,
		runsIndex,
		pushersTable,
		branchPushersTable,
		headsTable,
		commitPushersTable,
		outcomesTable,
		replaysTable,
		replaysIndex,
		stateOpsTable,
		stateOpsIndex,
		partialPlansTable,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("create store tables: %w", err)
		}
	}
	return &Store{db: db}, nil
}

// LockedError says which PR holds a stage.
type LockedError struct {
	Stage string
	PR    int
}

func (e *LockedError) Error() string {
	return fmt.Sprintf("stage %s is locked by #%d", e.Stage, e.PR)
}

// Lock locks a stage to a PR. It succeeds when the PR already holds it and
// returns a *LockedError when another PR does.
func (s *Store) Lock(ctx context.Context, repo, stage string, pr int, sha string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_locks (repo, stage, pr, head_sha, locked_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo, stage) DO NOTHING`,
		repo, stage, pr, sha, time.Now().UTC()); err != nil {
		return fmt.Errorf("lock stage %s of %s: %w", stage, repo, err)
	}
	owner, err := s.LockOwner(ctx, repo, stage)
	if err != nil {
		return err
	}
	if owner != pr {
		return &LockedError{Stage: stage, PR: owner}
	}
	return nil
}

// LockOwner returns the PR holding a stage, or 0.
func (s *Store) LockOwner(ctx context.Context, repo, stage string) (int, error) {
	var pr int
	err := s.db.QueryRowContext(ctx, `SELECT pr FROM stagebot_locks WHERE repo = $1 AND stage = $2`, repo, stage).Scan(&pr)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read lock of stage %s of %s: %w", stage, repo, err)
	}
	return pr, nil
}

// Locks returns the stages pr holds locked.
func (s *Store) Locks(ctx context.Context, repo string, pr int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT stage FROM stagebot_locks WHERE repo = $1 AND pr = $2 ORDER BY stage`, repo, pr)
	if err != nil {
		return nil, fmt.Errorf("list locks of %s#%d: %w", repo, pr, err)
	}
	defer rows.Close()
	var held []string
	for rows.Next() {
		var st string
		if err := rows.Scan(&st); err != nil {
			return nil, fmt.Errorf("list locks of %s#%d: %w", repo, pr, err)
		}
		held = append(held, st)
	}
	return held, rows.Err()
}

// Unlock releases the PR's locks on the stages (all its locks when none
// are named) and returns the stages released.
func (s *Store) Unlock(ctx context.Context, repo string, pr int, stages ...string) ([]string, error) {
	held, err := s.Locks(ctx, repo, pr)
	if err != nil {
		return nil, err
	}
	var released []string
	for _, st := range held {
		if len(stages) > 0 && !slices.Contains(stages, st) {
			continue
		}
		if _, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_locks WHERE repo = $1 AND stage = $2 AND pr = $3`, repo, st, pr); err != nil {
			return released, fmt.Errorf("unlock stage %s of %s: %w", st, repo, err)
		}
		released = append(released, st)
	}
	return released, nil
}

// RecordApply notes that a PR applied a stage at a head.
func (s *Store) RecordApply(ctx context.Context, repo, stage string, pr int, sha string, at time.Time) error {
	// The apply happened: its record is written whatever the job's
	// context says.
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `INSERT INTO stagebot_applies (repo, stage, pr, head_sha, applied_at) VALUES ($1, $2, $3, $4, $5)`,
		repo, stage, pr, sha, at.UTC()); err != nil {
		return fmt.Errorf("record apply of stage %s of %s: %w", stage, repo, err)
	}
	return nil
}

// Apply is one recorded apply.
type Apply struct {
	PR      int
	HeadSHA string
	At      time.Time
}

// LastApply returns the newest apply of a stage, and whether there is one.
func (s *Store) LastApply(ctx context.Context, repo, stage string) (Apply, bool, error) {
	var a Apply
	err := s.db.QueryRowContext(ctx,
		`SELECT pr, head_sha, applied_at FROM stagebot_applies WHERE repo = $1 AND stage = $2 ORDER BY applied_at DESC LIMIT 1`,
		repo, stage).Scan(&a.PR, &a.HeadSHA, &a.At)
	if errors.Is(err, sql.ErrNoRows) {
		return a, false, nil
	}
	if err != nil {
		return a, false, fmt.Errorf("read applies of stage %s of %s: %w", stage, repo, err)
	}
	return a, true, nil
}

// RunningApply is an apply that started and has not finished.
type RunningApply struct {
	PR        int
	HeadSHA   string
	TriggerID string // what asked for it: a comment id or a merge
	StartedAt time.Time
}

// StartApply records that an apply of a stage begins. The stage's row is
// unique: when one is already there, ok is false and the running (or
// interrupted) apply is returned instead. Two applies of one stage so never
// overlap, across every bot sharing the database.
func (s *Store) StartApply(ctx context.Context, repo, stage string, pr int, sha, trigger string) (RunningApply, bool, error) {
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_running_applies (repo, stage, pr, head_sha, trigger_id, started_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo, stage) DO NOTHING`,
		repo, stage, pr, sha, trigger, time.Now().UTC())
	if err != nil {
		return RunningApply{}, false, fmt.Errorf("start apply of stage %s of %s: %w", stage, repo, err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return RunningApply{}, true, nil
	}
	var r RunningApply
	err = s.db.QueryRowContext(ctx, `SELECT pr, head_sha, trigger_id, started_at FROM stagebot_running_applies WHERE repo = $1 AND stage = $2`, repo, stage).
		Scan(&r.PR, &r.HeadSHA, &r.TriggerID, &r.StartedAt)
	if err != nil {
		return r, false, fmt.Errorf("read running apply of stage %s of %s: %w", stage, repo, err)
	}
	return r, false, nil
}

// FinishApply removes the record of a stage's running apply.
func (s *Store) FinishApply(ctx context.Context, repo, stage string) error {
	if _, err := s.db.ExecContext(context.WithoutCancel(ctx), `DELETE FROM stagebot_running_applies WHERE repo = $1 AND stage = $2`, repo, stage); err != nil {
		return fmt.Errorf("finish apply of stage %s of %s: %w", stage, repo, err)
	}
	return nil
}

// FinishApplyOf removes the record of a stage's running apply when
// trigger started it, and reports whether it did: a job that recorded its
// apply's result and died before this was done ends it when it runs again.
func (s *Store) FinishApplyOf(ctx context.Context, repo, stage, trigger string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_running_applies WHERE repo = $1 AND stage = $2 AND trigger_id = $3`, repo, stage, trigger)
	if err != nil {
		return false, fmt.Errorf("finish apply of stage %s of %s: %w", stage, repo, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// TakePR leases a PR's work to holder for ttl: while the lease holds, no
// other bot sharing the database works on the PR. It reports false when
// another holder's lease has not expired. Holding it already renews it.
func (s *Store) TakePR(ctx context.Context, repo string, pr int, holder string, ttl time.Duration) (bool, error) {
	now := time.Now().UTC()
	res, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_pr_leases (repo, pr, holder, expires_at) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (repo, pr) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		 WHERE stagebot_pr_leases.holder = excluded.holder OR stagebot_pr_leases.expires_at < $5`,
		repo, pr, holder, now.Add(ttl), now)
	if err != nil {
		return false, fmt.Errorf("lease %s#%d: %w", repo, pr, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// ReleasePR ends holder's lease of a PR.
func (s *Store) ReleasePR(ctx context.Context, repo string, pr int, holder string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_pr_leases WHERE repo = $1 AND pr = $2 AND holder = $3`, repo, pr, holder); err != nil {
		return fmt.Errorf("release lease of %s#%d: %w", repo, pr, err)
	}
	return nil
}
