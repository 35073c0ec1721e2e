package store

import (
	"context"
	"fmt"
)

// outcomesTable keeps what each stage (or instance) of a PR's latest plan
// leaves to do, as the bot decided it when it posted the plan: the PR's
// stagebot/apply check run is made from these, never from comment text.
const outcomesTable = `CREATE TABLE IF NOT EXISTS stagebot_outcomes (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	unit TEXT NOT NULL,
	outcome TEXT NOT NULL,
	PRIMARY KEY (repo, pr, unit)
)`

// Outcome is what a stage's plan on a PR leaves to do.
type Outcome string

const (
	// OutcomeApply: a plan with changes waits for /apply, or one that
	// failed or waits for an upstream stage must be planned again first.
	OutcomeApply Outcome = "apply"
	// OutcomeNothing: the plan changes nothing, or the PR no longer
	// changes the stage.
	OutcomeNothing Outcome = "nothing"
)

// SetOutcome records what the PR's plan of unit (a stage or an instance)
// leaves to do.
func (s *Store) SetOutcome(ctx context.Context, repo string, pr int, unit string, o Outcome) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_outcomes (repo, pr, unit, outcome) VALUES ($1, $2, $3, $4)
		 ON CONFLICT (repo, pr, unit) DO UPDATE SET outcome = excluded.outcome`,
		repo, pr, unit, string(o)); err != nil {
		return fmt.Errorf("record the outcome of %s on %s#%d: %w", unit, repo, pr, err)
	}
	return nil
}

// Outcomes returns what the PR's plans leave to do, by unit.
func (s *Store) Outcomes(ctx context.Context, repo string, pr int) (map[string]Outcome, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT unit, outcome FROM stagebot_outcomes WHERE repo = $1 AND pr = $2`, repo, pr)
	if err != nil {
		return nil, fmt.Errorf("read the outcomes of %s#%d: %w", repo, pr, err)
	}
	defer rows.Close()
	out := map[string]Outcome{}
	for rows.Next() {
		var unit, o string
		if err := rows.Scan(&unit, &o); err != nil {
			return nil, err
		}
		out[unit] = Outcome(o)
	}
	return out, rows.Err()
}

// DeleteOutcomes forgets the outcomes of the PR's units (all of them when
// none are named).
func (s *Store) DeleteOutcomes(ctx context.Context, repo string, pr int, units ...string) error {
	if len(units) == 0 {
		_, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_outcomes WHERE repo = $1 AND pr = $2`, repo, pr)
		return err
	}
	for _, u := range units {
		if _, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_outcomes WHERE repo = $1 AND pr = $2 AND unit = $3`, repo, pr, u); err != nil {
			return err
		}
	}
	return nil
}
