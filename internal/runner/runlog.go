package runner

import (
	"context"
	"errors"
	"os"
)

// RunInfo is a plan or apply that begins, for the record of runs.
type RunInfo struct {
	Repo    string
	PR      int
	Stage   string
	Op      string // plan or apply
	HeadSHA string
	// LogPath is where its log streams while it runs.
	LogPath string
}

// RunLog records the runs: where their logs are while they run, and the
// logs once they end (redacted, as the runner wrote them).
type RunLog interface {
	StartRun(ctx context.Context, info RunInfo) (id string, err error)
	FinishRun(ctx context.Context, id string, ok bool, log string) error
}

// startRun records a session's run; its ID is "" when nothing records runs
// or the record failed (a run is not refused for its record).
func (r *Runner) startRun(ctx context.Context, run Run, op string, s *session) string {
	if r.runs == nil || s.file == nil {
		return ""
	}
	id, err := r.runs.StartRun(ctx, RunInfo{Repo: run.Repo, PR: run.PR, Stage: run.Stage, Op: op, HeadSHA: run.HeadSHA, LogPath: s.file.Name()})
	if err != nil {
		return ""
	}
	return id
}

// finishRun records the end of run id with its log file's content, and
// names the run in err's RunError, so a failure links to its log.
func (r *Runner) finishRun(ctx context.Context, id, logFile string, err error) {
	if id == "" {
		return
	}
	var re *RunError
	if errors.As(err, &re) {
		re.RunID = id
	}
	b, _ := os.ReadFile(logFile)
	r.runs.FinishRun(context.WithoutCancel(ctx), id, err == nil, string(b))
}
