package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"time"
)

// StageStatus is what the dashboard shows of one stage (or instance): the
// commit it was last applied from, its last drift check, and who holds
// its lock.
type StageStatus struct {
	Stage      string
	AppliedSHA string
	AppliedAt  time.Time
	Drift      *DriftState
	LockPR     int
	LockSHA    string
	LockedAt   time.Time
}

// Overview returns the status of every stage of a repository the bot has
// applied, checked for drift or locked, by name.
func (s *Store) Overview(ctx context.Context, repo string) ([]StageStatus, error) {
	by := map[string]*StageStatus{}
	get := func(stage string) *StageStatus {
		if by[stage] == nil {
			by[stage] = &StageStatus{Stage: stage}
		}
		return by[stage]
	}
	queries := []struct {
		q    string
		scan func(*sql.Rows) error
	}{
		{`SELECT stage, sha, applied_at FROM stagebot_applied_commits WHERE repo = $1`, func(rows *sql.Rows) error {
			var st string
			var sha string
			var at time.Time
			if err := rows.Scan(&st, &sha, &at); err != nil {
				return err
			}
			get(st).AppliedSHA, get(st).AppliedAt = sha, at
			return nil
		}},
		{`SELECT stage, drifted, changes, issue, checked_sha, checked_at FROM stagebot_drift WHERE repo = $1`, func(rows *sql.Rows) error {
			var st string
			var d DriftState
			var drifted int
			if err := rows.Scan(&st, &drifted, &d.Changes, &d.Issue, &d.CheckedSHA, &d.CheckedAt); err != nil {
				return err
			}
			d.Drifted = drifted == 1
			get(st).Drift = &d
			return nil
		}},
		{`SELECT stage, pr, head_sha, locked_at FROM stagebot_locks WHERE repo = $1`, func(rows *sql.Rows) error {
			var l StageStatus
			if err := rows.Scan(&l.Stage, &l.LockPR, &l.LockSHA, &l.LockedAt); err != nil {
				return err
			}
			st := get(l.Stage)
			st.LockPR, st.LockSHA, st.LockedAt = l.LockPR, l.LockSHA, l.LockedAt
			return nil
		}},
	}
	for _, q := range queries {
		rows, err := s.db.QueryContext(ctx, q.q, repo)
		if err != nil {
			return nil, fmt.Errorf("read the stages of %s: %w", repo, err)
		}
		for rows.Next() {
			if err := q.scan(rows); err != nil {
				rows.Close()
				return nil, err
			}
		}
		rows.Close()
	}
	var out []StageStatus
	for _, k := range slices.Sorted(maps.Keys(by)) {
		out = append(out, *by[k])
	}
	return out, nil
}
