package store

import (
	"context"
	"fmt"
	"time"
)

// sectionsTable keeps, per PR, what each instance of an instanced stage
// shows: its plan, apply or refusal, rendered and redacted. The stage's one
// comment is made from these, so an apply of one instance updates its own
// section and leaves the others' as they were.
const sectionsTable = `CREATE TABLE IF NOT EXISTS stagebot_sections (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	unit TEXT NOT NULL,
	body TEXT NOT NULL,
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, pr, unit)
)`

// Section is what one instance shows in its stage's comment.
type Section struct {
	Unit string
	Body string
}

// SetSection records what an instance (unit) of stage shows on the PR.
func (s *Store) SetSection(ctx context.Context, repo string, pr int, stage, unit, body string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_sections (repo, pr, stage, unit, body, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
		 ON CONFLICT (repo, pr, unit) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at`,
		repo, pr, stage, unit, body, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the section of %s on %s#%d: %w", unit, repo, pr, err)
	}
	return nil
}

// Sections returns the sections of a stage's instances on the PR, by unit
// name.
func (s *Store) Sections(ctx context.Context, repo string, pr int, stage string) ([]Section, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT unit, body FROM stagebot_sections WHERE repo = $1 AND pr = $2 AND stage = $3 ORDER BY unit`, repo, pr, stage)
	if err != nil {
		return nil, fmt.Errorf("read the sections of %s on %s#%d: %w", stage, repo, pr, err)
	}
	defer rows.Close()
	var out []Section
	for rows.Next() {
		var sec Section
		if err := rows.Scan(&sec.Unit, &sec.Body); err != nil {
			return nil, err
		}
		out = append(out, sec)
	}
	return out, rows.Err()
}

// DeleteSection forgets one instance's section (the PR no longer changes
// it).
func (s *Store) DeleteSection(ctx context.Context, repo string, pr int, unit string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_sections WHERE repo = $1 AND pr = $2 AND unit = $3`, repo, pr, unit)
	return err
}

// DeletePRSections forgets every section of a closed PR.
func (s *Store) DeletePRSections(ctx context.Context, repo string, pr int) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_sections WHERE repo = $1 AND pr = $2`, repo, pr)
	return err
}
