package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/stagebot/stagebot/internal/runner"
)

// planFilesTable holds saved plan files, sealed by the runner: with it,
// every replica on one PostgreSQL can show and apply any PR's plan, and no
// replica's disk matters.
const planFilesTable = `CREATE TABLE IF NOT EXISTS stagebot_plan_files (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	engine TEXT NOT NULL,
	data BYTEA NOT NULL,
	PRIMARY KEY (repo, pr, stage)
)`

// PlanFiles keeps plan files in the database. It implements
// runner.PlanFiles.
type PlanFiles struct{ s *Store }

// PlanFiles returns the store's plan files.
func (s *Store) PlanFiles() PlanFiles { return PlanFiles{s} }

var _ runner.PlanFiles = PlanFiles{}

func (p PlanFiles) PutPlanFile(ctx context.Context, k runner.PlanKey, engine string, data []byte) error {
	if _, err := p.s.db.ExecContext(ctx,
		`INSERT INTO stagebot_plan_files (repo, pr, stage, engine, data) VALUES ($1, $2, $3, $4, $5)
		 ON CONFLICT (repo, pr, stage) DO UPDATE SET engine = excluded.engine, data = excluded.data`,
		k.Repo, k.PR, k.Stage, engine, data); err != nil {
		return fmt.Errorf("keep the plan file of stage %s of %s#%d: %w", k.Stage, k.Repo, k.PR, err)
	}
	return nil
}

func (p PlanFiles) PlanFile(ctx context.Context, k runner.PlanKey) ([]byte, error) {
	var data []byte
	err := p.s.db.QueryRowContext(ctx, `SELECT data FROM stagebot_plan_files WHERE repo = $1 AND pr = $2 AND stage = $3`, k.Repo, k.PR, k.Stage).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, os.ErrNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("read the plan file of stage %s of %s#%d: %w", k.Stage, k.Repo, k.PR, err)
	}
	return data, nil
}

func (p PlanFiles) PlanFileEngine(ctx context.Context, k runner.PlanKey) (string, bool, error) {
	var engine string
	err := p.s.db.QueryRowContext(ctx, `SELECT engine FROM stagebot_plan_files WHERE repo = $1 AND pr = $2 AND stage = $3`, k.Repo, k.PR, k.Stage).Scan(&engine)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read the plan file of stage %s of %s#%d: %w", k.Stage, k.Repo, k.PR, err)
	}
	return engine, true, nil
}

func (p PlanFiles) DeletePlanFile(ctx context.Context, k runner.PlanKey) error {
	if _, err := p.s.db.ExecContext(ctx, `DELETE FROM stagebot_plan_files WHERE repo = $1 AND pr = $2 AND stage = $3`, k.Repo, k.PR, k.Stage); err != nil {
		return fmt.Errorf("delete the plan file of stage %s of %s#%d: %w", k.Stage, k.Repo, k.PR, err)
	}
	return nil
}

func (p PlanFiles) DeletePRPlanFiles(ctx context.Context, repo string, pr int) error {
	if _, err := p.s.db.ExecContext(ctx, `DELETE FROM stagebot_plan_files WHERE repo = $1 AND pr = $2`, repo, pr); err != nil {
		return fmt.Errorf("delete the plan files of %s#%d: %w", repo, pr, err)
	}
	return nil
}
