package workflow

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

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
