package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/stagebot/stagebot/internal/runner"
)

// runsTable records every Terraform plan and apply the bot runs for a PR
// (or a drift check): what the dashboard lists and links to. The log is
// kept here once the run ends (redacted, as the runner wrote it); while it
// runs, it streams from the file on the replica that runs it.
const runsTable = `CREATE TABLE IF NOT EXISTS stagebot_runs (
	id TEXT NOT NULL PRIMARY KEY,
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	stage TEXT NOT NULL,
	op TEXT NOT NULL,
	head_sha TEXT NOT NULL,
	replica TEXT NOT NULL,
	log_path TEXT NOT NULL,
	started_at TIMESTAMP NOT NULL,
	finished_at TIMESTAMP,
	ok INTEGER NOT NULL DEFAULT 0,
	log TEXT NOT NULL DEFAULT ''
)`

const runsIndex = `CREATE INDEX IF NOT EXISTS stagebot_runs_pr ON stagebot_runs (repo, pr, started_at)`

// Run is one Terraform run.
type Run struct {
	ID      string
	Repo    string
	PR      int
	Stage   string
	Op      string // plan or apply
	HeadSHA string
	// Replica ran it; LogPath is its log there while it runs.
	Replica, LogPath string
	StartedAt        time.Time
	FinishedAt       time.Time // zero while it runs
	OK               bool
	Log              string // once finished
}

// Running reports whether the run has not ended.
func (r Run) Running() bool { return r.FinishedAt.IsZero() }

// StartRun records a run that begins and returns its ID.
func (s *Store) StartRun(ctx context.Context, r Run) (string, error) {
	b := make([]byte, 12)
	rand.Read(b)
	r.ID = hex.EncodeToString(b)
	if _, err := s.db.ExecContext(ctx, `INSERT INTO stagebot_runs (id, repo, pr, stage, op, head_sha, replica, log_path, started_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.ID, r.Repo, r.PR, r.Stage, r.Op, r.HeadSHA, r.Replica, r.LogPath, time.Now().UTC()); err != nil {
		return "", fmt.Errorf("record the run of %s of %s#%d: %w", r.Stage, r.Repo, r.PR, err)
	}
	return r.ID, nil
}

// FinishRun records a run's end and its (redacted) log.
func (s *Store) FinishRun(ctx context.Context, id string, ok bool, log string) error {
	okInt := 0
	if ok {
		okInt = 1
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE stagebot_runs SET finished_at = $1, ok = $2, log = $3 WHERE id = $4`, time.Now().UTC(), okInt, log, id); err != nil {
		return fmt.Errorf("record the end of run %s: %w", id, err)
	}
	return nil
}

const runColumns = `id, repo, pr, stage, op, head_sha, replica, log_path, started_at, finished_at, ok`

func scanRun(row interface{ Scan(...any) error }, withLog bool) (Run, error) {
	var r Run
	var finished sql.NullTime
	var ok int
	dest := []any{&r.ID, &r.Repo, &r.PR, &r.Stage, &r.Op, &r.HeadSHA, &r.Replica, &r.LogPath, &r.StartedAt, &finished, &ok}
	if withLog {
		dest = append(dest, &r.Log)
	}
	err := row.Scan(dest...)
	r.FinishedAt, r.OK = finished.Time, ok == 1
	return r, err
}

// RunByID returns a run with its log, and false when there is none.
func (s *Store) RunByID(ctx context.Context, id string) (Run, bool, error) {
	r, err := scanRun(s.db.QueryRowContext(ctx, `SELECT `+runColumns+`, log FROM stagebot_runs WHERE id = $1`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	return r, err == nil, err
}

// Runs returns a repository's runs (of one PR when pr > 0), newest first,
// without their logs.
func (s *Store) Runs(ctx context.Context, repo string, pr, limit int) ([]Run, error) {
	q, args := `SELECT `+runColumns+` FROM stagebot_runs WHERE repo = $1 ORDER BY started_at DESC LIMIT $2`, []any{repo, limit}
	if pr > 0 {
		q, args = `SELECT `+runColumns+` FROM stagebot_runs WHERE repo = $1 AND pr = $2 ORDER BY started_at DESC LIMIT $3`, []any{repo, pr, limit}
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("read the runs of %s: %w", repo, err)
	}
	defer rows.Close()
	var out []Run
	for rows.Next() {
		r, err := scanRun(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// RunLog records the runs of replica (its name on the dashboard) for the
// runner.
func (s *Store) RunLog(replica string) runner.RunLog { return runLog{s, replica} }

type runLog struct {
	s       *Store
	replica string
}

func (l runLog) StartRun(ctx context.Context, info runner.RunInfo) (string, error) {
	return l.s.StartRun(ctx, Run{Repo: info.Repo, PR: info.PR, Stage: info.Stage, Op: info.Op, HeadSHA: info.HeadSHA, Replica: l.replica, LogPath: info.LogPath})
}

func (l runLog) FinishRun(ctx context.Context, id string, ok bool, log string) error {
	return l.s.FinishRun(ctx, id, ok, log)
}
