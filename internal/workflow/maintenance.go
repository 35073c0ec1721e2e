package workflow

import (
	"cmp"
	"context"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
)

// NewDiskGauge is the gauge of the data dir's size, registered with reg.
func NewDiskGauge(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "stagebot_data_dir_bytes",
		Help: "Bytes the data dir holds, by part (workspaces, logs, plans, git, terraform), measured by the periodic maintenance.",
	}, []string{"part"})
	return g, reg.Register(g)
}

// Maintenance keeps the data dir within its bounds and measures it.
func (w *Workflow) Maintenance(ctx context.Context, _ jobs.MaintenanceJob) error {
	usage, err := w.Runner.Maintain(ctx, w.Retention)
	if err != nil {
		return err
	}
	w.recordUsage(usage)
	logging.From(ctx).Info("data dir maintained", "workspaces_bytes", usage["workspaces"].Bytes, "logs_bytes", usage["logs"].Bytes, "git_bytes", usage["git"].Bytes)
	return w.sweepChecks(ctx)
}

// sweepChecks completes the check runs the bot opened that no job will
// complete now: opened (or set in progress again) longer ago than any job
// may run. A required check would otherwise hold its pull request for
// good. They end as cancelled, and say how to go on.
func (w *Workflow) sweepChecks(ctx context.Context) error {
	after := w.SweepChecksAfter
	if after == 0 {
		after = w.Runner.Timeout() + cmp.Or(w.LeaseTTL, 2*time.Minute) + time.Minute
	}
	stale, err := w.Store.OpenChecksBefore(ctx, time.Now().Add(-after))
	if err != nil {
		return err
	}
	for _, c := range stale {
		owner, name, _ := strings.Cut(c.Repo, "/")
		repo := gh.Repo{Owner: owner, Name: name}
		cr := gh.CheckRun{Name: c.Name, HeadSHA: c.HeadSHA, Status: "completed", Conclusion: "cancelled", Title: "Not finished",
			Summary: "The bot's job for this check ended without finishing it (it was given up after its retries, or its bot stopped and the job ran again). Nothing was applied by it. Comment `/plan` on the pull request, or push, to run it again."}
		if err := w.client(c.Installation).UpdateCheckRun(ctx, repo, c.ID, cr); err != nil {
			logging.From(ctx).Warn("could not complete a check run left in progress", "repo", c.Repo, "check_run", c.ID, "error", err.Error())
			continue
		}
		logging.From(ctx).Info("completed a check run left in progress", "repo", c.Repo, "check_run", c.ID, "name", c.Name, "opened", c.OpenedAt)
	}
	return nil
}

func (w *Workflow) recordUsage(u runner.Usage) {
	if w.DiskUsage == nil {
		return
	}
	for part, n := range u {
		w.DiskUsage.WithLabelValues(part).Set(float64(n.Bytes))
	}
}
