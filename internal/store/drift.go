package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

const reposTable = `CREATE TABLE IF NOT EXISTS stagebot_repos (
	repo TEXT NOT NULL PRIMARY KEY,
	installation_id BIGINT NOT NULL,
	default_branch TEXT NOT NULL,
	drift_schedule TEXT NOT NULL,
	next_drift_at TIMESTAMP
)`

const driftTable = `CREATE TABLE IF NOT EXISTS stagebot_drift (
	repo TEXT NOT NULL,
	stage TEXT NOT NULL,
	drifted INTEGER NOT NULL,
	changes INTEGER NOT NULL,
	issue INTEGER NOT NULL,
	checked_sha TEXT NOT NULL,
	checked_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, stage)
)`

// RepoInfo is what the bot knows of a repository between events: enough to
// run its scheduled drift checks.
type RepoInfo struct {
	Repo           string
	InstallationID int64
	DefaultBranch  string
	DriftSchedule  string
	NextDriftAt    time.Time // zero: not scheduled
}

// SetRepo records a repository's installation and drift schedule, as read
// from its stagebot.yaml. When the schedule changed, next is its next run.
func (s *Store) SetRepo(ctx context.Context, r RepoInfo, next func() time.Time) error {
	var old string
	err := s.db.QueryRowContext(ctx, `SELECT drift_schedule FROM stagebot_repos WHERE repo = $1`, r.Repo).Scan(&old)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		_, err = s.db.ExecContext(ctx, `INSERT INTO stagebot_repos (repo, installation_id, default_branch, drift_schedule, next_drift_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (repo) DO NOTHING`,
			r.Repo, r.InstallationID, r.DefaultBranch, r.DriftSchedule, nullTime(r.DriftSchedule, next))
	case err == nil && old != r.DriftSchedule:
		_, err = s.db.ExecContext(ctx, `UPDATE stagebot_repos SET installation_id = $1, default_branch = $2, drift_schedule = $3, next_drift_at = $4 WHERE repo = $5`,
			r.InstallationID, r.DefaultBranch, r.DriftSchedule, nullTime(r.DriftSchedule, next), r.Repo)
	case err == nil:
		_, err = s.db.ExecContext(ctx, `UPDATE stagebot_repos SET installation_id = $1, default_branch = $2 WHERE repo = $3`, r.InstallationID, r.DefaultBranch, r.Repo)
	}
	if err != nil {
		return fmt.Errorf("record repository %s: %w", r.Repo, err)
	}
	return nil
}

func nullTime(schedule string, next func() time.Time) any {
	if schedule == "" || next == nil {
		return nil
	}
	return next().UTC()
}

// DueDrift returns the repositories whose drift check is due at now.
func (s *Store) DueDrift(ctx context.Context, now time.Time) ([]RepoInfo, error) {
	out, err := s.repos(ctx, `WHERE drift_schedule <> '' AND next_drift_at IS NOT NULL AND next_drift_at <= $1`, now.UTC())
	if err != nil {
		return nil, fmt.Errorf("list repositories due a drift check: %w", err)
	}
	return out, nil
}

// Repos returns the repositories the bot has seen a stagebot.yaml of.
func (s *Store) Repos(ctx context.Context) ([]RepoInfo, error) {
	out, err := s.repos(ctx, `ORDER BY repo`)
	if err != nil {
		return nil, fmt.Errorf("read the repositories: %w", err)
	}
	return out, nil
}

// repos reads the repositories the clause (WHERE, ORDER BY) picks.
func (s *Store) repos(ctx context.Context, clause string, args ...any) ([]RepoInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, installation_id, default_branch, drift_schedule, next_drift_at FROM stagebot_repos `+clause, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RepoInfo
	for rows.Next() {
		var r RepoInfo
		var next sql.NullTime
		if err := rows.Scan(&r.Repo, &r.InstallationID, &r.DefaultBranch, &r.DriftSchedule, &next); err != nil {
			return nil, err
		}
		r.NextDriftAt = next.Time
		out = append(out, r)
	}
	return out, rows.Err()
}

// ScheduleDrift sets a repository's next drift check, if it was still due
// at was: of two replicas that saw it due, one takes it.
func (s *Store) ScheduleDrift(ctx context.Context, repo string, was, next time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE stagebot_repos SET next_drift_at = $1 WHERE repo = $2 AND next_drift_at = $3`, next.UTC(), repo, was.UTC())
	if err != nil {
		return false, fmt.Errorf("schedule drift check of %s: %w", repo, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// DriftState is the last drift check of a stage.
type DriftState struct {
	Drifted    bool
	Changes    int
	Issue      int
	CheckedSHA string
	CheckedAt  time.Time
}

// SetDrift records a stage's drift check.
func (s *Store) SetDrift(ctx context.Context, repo, stage string, d DriftState) error {
	drifted := 0
	if d.Drifted {
		drifted = 1
	}
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_drift (repo, stage, drifted, changes, issue, checked_sha, checked_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (repo, stage) DO UPDATE SET drifted = excluded.drifted, changes = excluded.changes, issue = excluded.issue, checked_sha = excluded.checked_sha, checked_at = excluded.checked_at`,
		repo, stage, drifted, d.Changes, d.Issue, d.CheckedSHA, time.Now().UTC()); err != nil {
		return fmt.Errorf("record drift of stage %s of %s: %w", stage, repo, err)
	}
	return nil
}

// Drift returns a stage's last drift check, and whether there was one.
func (s *Store) Drift(ctx context.Context, repo, stage string) (DriftState, bool, error) {
	var d DriftState
	var drifted int
	err := s.db.QueryRowContext(ctx, `SELECT drifted, changes, issue, checked_sha, checked_at FROM stagebot_drift WHERE repo = $1 AND stage = $2`, repo, stage).
		Scan(&drifted, &d.Changes, &d.Issue, &d.CheckedSHA, &d.CheckedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	if err != nil {
		return d, false, fmt.Errorf("read drift of stage %s of %s: %w", stage, repo, err)
	}
	d.Drifted = drifted == 1
	return d, true, nil
}
