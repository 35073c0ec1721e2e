// Package server is the bot's HTTP surface: the GitHub webhook endpoint,
// health and readiness probes, and Prometheus metrics.
package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/semaphore"

	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

// Queue is what the HTTP surface needs of the job queue.
type Queue interface {
	// Enqueue stores job durably, once per delivery: a job for a delivery
	// already queued is not stored again and duplicate is true.
	Enqueue(ctx context.Context, job jobs.Job) (id int64, duplicate bool, err error)
	Ping(ctx context.Context) error
}

// Replays remembers the signatures of accepted deliveries.
type Replays interface {
	// Accept records that a body whose signature hashes to digest came as
	// delivery, and returns the delivery that first brought that body in
	// the last 7 days: another one means this is a replay.
	Accept(ctx context.Context, digest, delivery string, at time.Time) (first string, err error)
}

// Config configures New.
type Config struct {
	WebhookSecret []byte
	Queue         Queue
	// Replays refuses a signed body already accepted under another
	// delivery id. Nil keeps them in the queue's database when the queue
	// has one (DB() *sql.DB), so replicas sharing it refuse them too.
	Replays Replays
	Logger  *slog.Logger
	// Registry receives the server's metrics and is what /metrics serves.
	Registry *prometheus.Registry
	// AllowRepo says whether a repository (owner/name) is served; nil
	// serves all. Deliveries of others are answered 200 and dropped.
	AllowRepo func(fullName string) bool
	// MaxBodyBytesInFlight bounds the webhook bodies held in memory at
	// once, before and after their signature is checked (default 32 MiB).
	MaxBodyBytesInFlight int64
	// Web serves every other path (the dashboard, behind its own login);
	// nil answers 404.
	Web http.Handler
}

// Server serves the bot's routes.
type Server struct {
	secret  []byte
	queue   Queue
	replays Replays
	log     *slog.Logger
	metrics *metrics
	mux     *http.ServeMux
	allow   func(string) bool
	bodies  *semaphore.Weighted
}

// New returns the bot's HTTP handler.
func New(cfg Config) (*Server, error) {
	if len(cfg.WebhookSecret) == 0 {
		return nil, errors.New("server: webhook secret is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	if cfg.AllowRepo == nil {
		cfg.AllowRepo = func(string) bool { return true }
	}
	if cfg.MaxBodyBytesInFlight <= 0 {
		cfg.MaxBodyBytesInFlight = 32 << 20
	}
	s := &Server{secret: cfg.WebhookSecret, queue: cfg.Queue, replays: cfg.Replays, log: cfg.Logger, metrics: m, mux: http.NewServeMux(),
		allow: cfg.AllowRepo, bodies: semaphore.NewWeighted(max(cfg.MaxBodyBytesInFlight, webhook.MaxPayloadBytes))}
	s.mux.HandleFunc("POST /webhooks/github", s.webhook)
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { reply(w, http.StatusOK, "ok") })
	s.mux.HandleFunc("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Registry, promhttp.HandlerOpts{}))
	if cfg.Web != nil {
		s.mux.Handle("/", cfg.Web)
	}
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	// Ready means a delivery would be queued now: the database answers and
	// takes a write, and its disk has room (queue.Ping).
	if err := s.queue.Ping(ctx); err != nil {
		s.log.Warn("not ready: deliveries cannot be queued", "error", err.Error())
		reply(w, http.StatusServiceUnavailable, "cannot queue deliveries now")
		return
	}
	reply(w, http.StatusOK, "ready")
}

// reply writes a short JSON answer; GitHub shows it in the App's delivery log.
func reply(w http.ResponseWriter, status int, msg string, kv ...any) {
	body := map[string]any{"message": msg}
	for i := 0; i+1 < len(kv); i += 2 {
		body[kv[i].(string)] = kv[i+1]
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

type metrics struct {
	deliveries *prometheus.CounterVec
	rejected   *prometheus.CounterVec
	replays    prometheus.Counter
	duration   prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebot_webhook_deliveries_total",
			Help: "Signed webhook deliveries by event and outcome (queued, duplicate, ignored, not_allowed: a repository outside the allowlist).",
		}, []string{"event", "outcome"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "stagebot_webhook_rejected_total",
			Help: "Webhook requests refused, by reason (signature, too_large, length_required, busy, slow_body, content_type, malformed, missing_header, queue).",
		}, []string{"reason"}),
		replays: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "stagebot_webhook_replays_total",
			Help: "Signed webhook bodies refused because they were accepted under another delivery id in the last 7 days (answered 200).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "stagebot_webhook_duration_seconds",
			Help:    "Time to answer a webhook request.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
	}
	for _, c := range []prometheus.Collector{m.deliveries, m.rejected, m.replays, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
