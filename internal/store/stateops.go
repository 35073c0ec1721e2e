package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"time"
)

// stateOpsTable records every state operation (/import, /state rm, /state
// mv): who asked for it, the plan that makes it, and who applied that plan.
const stateOpsTable = `CREATE TABLE IF NOT EXISTS stagebot_state_ops (
	id TEXT NOT NULL PRIMARY KEY,
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	command TEXT NOT NULL,
	asked_by TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	plan_sha256 TEXT NOT NULL,
	planned_at TIMESTAMP NOT NULL,
	applied_by TEXT NOT NULL DEFAULT '',
	applied_at TIMESTAMP
)`

const stateOpsIndex = `CREATE INDEX IF NOT EXISTS stagebot_state_ops_pr ON stagebot_state_ops (repo, pr, planned_at)`

// StateOp is one state operation a PR asked for.
type StateOp struct {
	Repo  string
	PR    int
	Stage string
	// Command is the operation as it was written (/import tenant:a x id).
	Command string
	AskedBy string
	HeadSHA string
	// PlanSHA256 is the plan that makes it: applying that plan applies it.
	PlanSHA256 string
	PlannedAt  time.Time
	// AppliedBy and AppliedAt are empty until the plan is applied.
	AppliedBy string
	AppliedAt time.Time
}

// RecordStateOp records a state operation as planned.
func (s *Store) RecordStateOp(ctx context.Context, op StateOp) error {
	id := make([]byte, 12)
	rand.Read(id)
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_state_ops (id, repo, pr, stage, command, asked_by, head_sha, plan_sha256, planned_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		hex.EncodeToString(id), op.Repo, op.PR, op.Stage, op.Command, op.AskedBy, op.HeadSHA, op.PlanSHA256, time.Now().UTC()); err != nil {
		return fmt.Errorf("record the state operation %s: %w", op.Command, err)
	}
	return nil
}

// StateOpApplied records that the plan planSHA256 of stage was applied by
// user: the state operations it makes are done. It reports whether there
// were any.
func (s *Store) StateOpApplied(ctx context.Context, repo string, pr int, stage, planSHA256, user string) (bool, error) {
	res, err := s.db.ExecContext(ctx,
		`UPDATE stagebot_state_ops SET applied_by = $1, applied_at = $2 WHERE repo = $3 AND pr = $4 AND stage = $5 AND plan_sha256 = $6 AND applied_at IS NULL`,
		user, time.Now().UTC(), repo, pr, stage, planSHA256)
	if err != nil {
		return false, fmt.Errorf("record the applied state operations of %s: %w", stage, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// StateOps lists a repository's state operations (of PR pr, unless 0),
// newest first, at most limit.
func (s *Store) StateOps(ctx context.Context, repo string, pr, limit int) ([]StateOp, error) {
	rows, err := s.db.QueryContext(ctx,
		`SELECT repo, pr, stage, command, asked_by, head_sha, plan_sha256, planned_at, applied_by, applied_at FROM stagebot_state_ops
		 WHERE repo = $1 AND ($2 = 0 OR pr = $2) ORDER BY planned_at DESC LIMIT $3`, repo, pr, limit)
	if err != nil {
		return nil, fmt.Errorf("read the state operations of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []StateOp
	for rows.Next() {
		var op StateOp
		var applied sql.NullTime
		if err := rows.Scan(&op.Repo, &op.PR, &op.Stage, &op.Command, &op.AskedBy, &op.HeadSHA, &op.PlanSHA256, &op.PlannedAt, &op.AppliedBy, &applied); err != nil {
			return nil, err
		}
		op.AppliedAt = applied.Time
		out = append(out, op)
	}
	return out, rows.Err()
}
