package store

import (
	"context"
	"fmt"
	"time"
)

// The check runs the bot opened and has not completed: a job completes
// its own; one a job left open (it was given up, or its bot died and the
// job ran again with check runs of its own) is completed by the sweep.
const openChecksTable = `CREATE TABLE IF NOT EXISTS stagebot_open_checks (
	repo TEXT NOT NULL,
	check_id BIGINT NOT NULL,
	installation BIGINT NOT NULL,
	name TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	opened_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, check_id)
)`

// OpenCheck is a check run the bot opened and has not completed.
type OpenCheck struct {
	Repo         string
	ID           int64
	Installation int64
	Name         string
	HeadSHA      string
	OpenedAt     time.Time
}

// CheckOpened records a check run the bot opened, or set in progress again
// (a job's retry): its time is then.
func (s *Store) CheckOpened(ctx context.Context, c OpenCheck) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_open_checks (repo, check_id, installation, name, head_sha, opened_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (repo, check_id) DO UPDATE SET opened_at = excluded.opened_at`,
		c.Repo, c.ID, c.Installation, c.Name, c.HeadSHA, time.Now().UTC()); err != nil {
		return fmt.Errorf("record check run %d of %s: %w", c.ID, c.Repo, err)
	}
	return nil
}

// CheckCompleted forgets a check run the bot completed.
func (s *Store) CheckCompleted(ctx context.Context, repo string, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_open_checks WHERE repo = $1 AND check_id = $2`, repo, id); err != nil {
		return fmt.Errorf("forget check run %d of %s: %w", id, repo, err)
	}
	return nil
}

// OpenChecksBefore lists the check runs opened before t and still open.
func (s *Store) OpenChecksBefore(ctx context.Context, t time.Time) ([]OpenCheck, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT repo, check_id, installation, name, head_sha, opened_at FROM stagebot_open_checks WHERE opened_at < $1 ORDER BY opened_at`, t.UTC())
	if err != nil {
		return nil, fmt.Errorf("list open check runs: %w", err)
	}
	defer rows.Close()
	var out []OpenCheck
	for rows.Next() {
		var c OpenCheck
		if err := rows.Scan(&c.Repo, &c.ID, &c.Installation, &c.Name, &c.HeadSHA, &c.OpenedAt); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}
