package queue

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"

	"github.com/stagebot/stagebot/internal/jobs"
)

type jobArgs interface {
	jobs.Job
	river.JobArgs
}

// worker adapts one Handlers method to River, adding the job's logger to its
// context and recording metrics.
type worker[A jobArgs] struct {
	river.WorkerDefaults[A]
	metrics *metrics
	logger  *slog.Logger
	timeout time.Duration
	handle  func(context.Context, A) error
}

func newWorker[A jobArgs](m *metrics, l *slog.Logger, timeout time.Duration, handle func(context.Context, A) error) *worker[A] {
	return &worker[A]{metrics: m, logger: l, timeout: timeout, handle: handle}
}

func (w *worker[A]) Timeout(*river.Job[A]) time.Duration { return w.timeout }

func (w *worker[A]) Work(ctx context.Context, job *river.Job[A]) (err error) {
	kind := job.Args.Kind()
	attrs := append(job.Args.LogAttrs(), "job", job.ID, "kind", kind, "attempt", job.Attempt)
	ctx = withJobLogger(ctx, w.logger, attrs)
	log := w.logger.With(attrs...)
	running := w.metrics.running.WithLabelValues(kind)
	running.Inc()
	start := time.Now()
	log.Info("job started")
	defer func() {
		running.Dec()
		d := time.Since(start)
		w.metrics.duration.WithLabelValues(kind).Observe(d.Seconds())
		if r := recover(); r != nil {
			// A panic in one job must not take down the bot or its other
			// jobs; River retries it like any error.
			log.Error("job panicked", "panic", r)
			err = panicError{r}
		}
		if wait, ok := Snoozed(err); ok {
			w.metrics.finished.WithLabelValues(kind, "snoozed").Inc()
			log.Info("job waits", "wait", wait.String(), "duration_ms", d.Milliseconds())
			return
		}
		if err != nil {
			w.metrics.finished.WithLabelValues(kind, "failed").Inc()
			log.Error("job failed", "error", err.Error(), "duration_ms", d.Milliseconds())
			return
		}
		w.metrics.finished.WithLabelValues(kind, "succeeded").Inc()
		log.Info("job done", "duration_ms", d.Milliseconds())
	}()
	return w.handle(ctx, job.Args)
}

type panicError struct{ v any }

func (p panicError) Error() string { return "panic in job handler" }

type metrics struct {
	queued   *prometheus.CounterVec
	running  *prometheus.GaugeVec
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		queued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebot_jobs_queued_total", Help: "Jobs queued, by kind (duplicates of a delivery not counted).",
		}, []string{"kind"}),
		running: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "stagebot_jobs_running", Help: "Jobs running now in this process, by kind.",
		}, []string{"kind"}),
		finished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebot_jobs_finished_total", Help: "Job attempts finished, by kind and outcome (succeeded, failed, snoozed: waits to run again).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "stagebot_job_duration_seconds", Help: "Duration of job attempts, by kind.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 16),
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.queued, m.running, m.finished, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
