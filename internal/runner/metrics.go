package runner

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// outcomes are what each operation can end in, so that every series of a
// stage exists (at zero) from the first time the stage is run.
var outcomes = map[string][]string{
	"plan":  {"changes", "no_changes", "failed"},
	"apply": {"applied", "failed"},
	"drift": {"drift", "no_drift", "failed"},
}

// runMetrics counts plans, applies and drift checks by stage and outcome,
// and how long they took.
type runMetrics struct {
	runs    *prometheus.CounterVec
	seconds *prometheus.HistogramVec
	seen    sync.Map // stage -> struct{}
}

func newRunMetrics(reg prometheus.Registerer) (*runMetrics, error) {
	m := &runMetrics{
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebot_terraform_runs_total",
			Help: "Plans, applies and drift checks finished, by stage (an instance counts as its stage), operation (plan, apply, drift) and outcome.",
		}, []string{"stage", "operation", "outcome"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "stagebot_terraform_run_seconds",
			Help:    "How long plans, applies and drift checks took, init included, by stage, operation and outcome.",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"stage", "operation", "outcome"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.runs, m.seconds} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// observe records one finished run of stage. An instance counts as its
// stage ("tenant:acme" as "tenant"): instance names come from files a PR
// adds, and must not make series without bound.
func (m *runMetrics) observe(stage, operation, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	stage, _, _ = strings.Cut(stage, ":")
	if _, known := m.seen.LoadOrStore(stage, struct{}{}); !known {
		for op, outs := range outcomes {
			for _, o := range outs {
				m.runs.WithLabelValues(stage, op, o)
				m.seconds.WithLabelValues(stage, op, o)
			}
		}
	}
	m.runs.WithLabelValues(stage, operation, outcome).Inc()
	m.seconds.WithLabelValues(stage, operation, outcome).Observe(took.Seconds())
}

// planOutcome names a finished plan: a drift check's when it has no PR.
func planOutcome(run Run, res *PlanResult, err error) (operation, outcome string) {
	operation = "plan"
	changes, none := "changes", "no_changes"
	if run.PR == 0 {
		operation, changes, none = "drift", "drift", "no_drift"
	}
	switch {
	case err != nil || res == nil:
		return operation, "failed"
	case res.HasChanges:
		return operation, changes
	}
	return operation, none
}
