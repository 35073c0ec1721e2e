package store

import (
	"context"
	"fmt"
	"time"
)

// unitChecksTable keeps, per commit and PR, what each instance's check run
// concludes there (the plan's PlanCheck; after an apply, neutral or
// failure). Where a commit's instances share their stage's check run, it is
// the worst of these over every PR whose head the commit is: a PR that
// plans fewer instances on the same commit cannot hide another's failure.
const unitChecksTable = `CREATE TABLE IF NOT EXISTS stagebot_unit_checks (
	repo TEXT NOT NULL,
	sha TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	unit TEXT NOT NULL,
	conclusion TEXT NOT NULL,
	updated_at TIMESTAMP NOT NULL,
	PRIMARY KEY (repo, sha, pr, unit)
)`

// UnitCheck is what one instance's check run concludes on a commit, as PR
// planned or applied it.
type UnitCheck struct {
	PR         int
	Unit       string
	Conclusion string
}

// SetUnitCheck records the conclusion of unit (of stage) on sha for pr.
func (s *Store) SetUnitCheck(ctx context.Context, repo, sha string, pr int, stage, unit, conclusion string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_unit_checks (repo, sha, pr, stage, unit, conclusion, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		 ON CONFLICT (repo, sha, pr, unit) DO UPDATE SET conclusion = excluded.conclusion, updated_at = excluded.updated_at`,
		repo, sha, pr, stage, unit, conclusion, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the check of %s at %s on %s#%d: %w", unit, sha, repo, pr, err)
	}
	return nil
}

// UnitChecks returns what the instances of stage conclude on sha, for
// every PR, by PR and unit.
func (s *Store) UnitChecks(ctx context.Context, repo, sha, stage string) ([]UnitCheck, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT pr, unit, conclusion FROM stagebot_unit_checks WHERE repo = $1 AND sha = $2 AND stage = $3 ORDER BY pr, unit`, repo, sha, stage)
	if err != nil {
		return nil, fmt.Errorf("read the checks of %s at %s: %w", stage, sha, err)
	}
	defer rows.Close()
	var out []UnitCheck
	for rows.Next() {
		var c UnitCheck
		if err := rows.Scan(&c.PR, &c.Unit, &c.Conclusion); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeleteUnitChecks forgets what a PR's instances concluded, on any commit
// (the PR is closed, or no longer changes unit: "" for every unit).
func (s *Store) DeleteUnitChecks(ctx context.Context, repo string, pr int, unit string) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM stagebot_unit_checks WHERE repo = $1 AND pr = $2 AND ($3 = '' OR unit = $3)`, repo, pr, unit)
	return err
}
