// Package queue is the bot's durable job queue: River on SQLite (one bot) or
// PostgreSQL (several replicas sharing one queue).
package queue

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
	"riverqueue.com/riverui"

	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
)

// Handlers does the work of each kind of job.
type Handlers interface {
	PullRequest(ctx context.Context, job jobs.PullRequestJob) error
	Comment(ctx context.Context, job jobs.CommentJob) error
	Push(ctx context.Context, job jobs.PushJob) error
	CheckRun(ctx context.Context, job jobs.CheckRunJob) error
	Drift(ctx context.Context, job jobs.DriftJob) error
	DriftTick(ctx context.Context, job jobs.DriftTickJob) error
	Maintenance(ctx context.Context, job jobs.MaintenanceJob) error
}

// Config configures Open.
type Config struct {
	// DatabaseURL is postgres://...; empty means SQLite at SQLitePath.
	DatabaseURL string
	SQLitePath  string
	// Workers is how many jobs run at once.
	Workers int
	// JobTimeout bounds one job.
	JobTimeout time.Duration
	// Takeover is how long after JobTimeout a job still marked running is
	// taken for a dead worker's and run again (default 10 minutes).
	Takeover time.Duration
	// Handlers does the work; it may instead be given to Handle, before
	// Start (the handlers may need the queue's database).
	Handlers   Handlers
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// PollInterval is how often idle workers look for new jobs; 0 means
	// a default suited to webhook latency.
	PollInterval time.Duration
	// NoWork opens the queue for inserting only: no job is run. Used by
	// tools that inspect or fill the queue.
	NoWork bool
	// DriftTick is how often the periodic job looks for drift checks that
	// are due (default a minute). With several replicas, only River's
	// leader runs it.
	DriftTick time.Duration
	// Notify delivers a notification (jobs.NotifyJob); nil: notification
	// jobs fail, and stay queued for a bot that has them.
	Notify func(ctx context.Context, job jobs.NotifyJob) error
	// NotifyRetryWait is the wait before a failed notification's first
	// retry; each next one waits twice as long, at most 10 minutes
	// (default a second).
	NotifyRetryWait time.Duration
}

// Queue inserts jobs and runs them.
type Queue struct {
	insert        func(context.Context, river.JobArgs) (int64, bool, error)
	insertMany    func(context.Context, []river.InsertManyParams) ([]*rivertype.JobInsertResult, error)
	start         func(context.Context) error
	stop          func(context.Context) error
	stopAndCancel func(context.Context) error
	ping          func(context.Context) error
	close         func()
	metrics       *metrics
	ui            func(prefix string, l *slog.Logger) (*riverui.Handler, error)
	handlers      *handlers
	noWork        bool

	reqs        chan insertReq
	closing     chan struct{}
	batcherDone chan struct{}
	db          *sql.DB
	// sqliteDir is the SQLite database's directory ("" on PostgreSQL).
	sqliteDir string
	// readyAt is when readiness last held (see ready).
	readyAt atomic.Pointer[time.Time]
	// Requeued counts jobs found running at start (cut off by a crash) and
	// made available again.
	Requeued int64
}

// Open connects to the database, runs River's migrations and prepares the
// workers. Call Start to begin working jobs.
func Open(ctx context.Context, cfg Config) (*Queue, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if cfg.DatabaseURL == "" {
		return openSQLite(ctx, cfg, m)
	}
	return openPostgres(ctx, cfg, m)
}

func openSQLite(ctx context.Context, cfg Config, m *metrics) (*Queue, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.SQLitePath), 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	// One bot per SQLite file: the lock makes a second one fail fast
	// instead of both working (and re-running) the same jobs.
	unlock, err := lockFile(cfg.SQLitePath + ".lock")
	if err != nil {
		return nil, err
	}
	dsn := "file:" + cfg.SQLitePath + "?_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("open SQLite database %s: %w", cfg.SQLitePath, err)
	}
	// SQLite allows one writer; River's SQLite driver wants a single
	// connection to avoid SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	closeAll := func() { db.Close(); unlock() }
	if err := db.PingContext(ctx); err != nil {
		closeAll()
		return nil, fmt.Errorf("open SQLite database %s: %w", cfg.SQLitePath, err)
	}
	if err := os.Chmod(cfg.SQLitePath, 0o600); err != nil {
		closeAll()
		return nil, fmt.Errorf("restrict SQLite database: %w", err)
	}
	driver := riversqlite.New(db)
	if err := migrate(ctx, driver); err != nil {
		closeAll()
		return nil, err
	}
	// Jobs left "running" can only be from a bot that died (the lock
	// above proves no other bot has the file), so they run again now
	// rather than after River's stuck-job rescue, which must wait longer
	// than the longest job.
	res, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("requeue interrupted jobs: %w", err)
	}
	requeued, _ := res.RowsAffected()
	q, err := newQueue(cfg, m, driver, func(ctx context.Context) error { return db.PingContext(ctx) }, closeAll)
	if err != nil {
		closeAll()
		return nil, err
	}
	q.Requeued = requeued
	q.db, q.sqliteDir = db, filepath.Dir(cfg.SQLitePath)
	if _, err := db.ExecContext(ctx, readyTable); err != nil {
		closeAll()
		return nil, fmt.Errorf("prepare the readiness check: %w", err)
	}
	return q, nil
}

func openPostgres(ctx context.Context, cfg Config, m *metrics) (*Queue, error) {
	pool, err := pgxpool.New(ctx, cfg.DatabaseURL)
	if err != nil {
		// pgx errors can quote the connection string; keep the password out.
		return nil, errors.New("open PostgreSQL: invalid STAGEBOT_DATABASE_URL")
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	driver := riverpgxv5.New(pool)
	if err := migrate(ctx, driver); err != nil {
		pool.Close()
		return nil, err
	}
	q, err := newQueue(cfg, m, driver, pool.Ping, pool.Close)
	if err != nil {
		pool.Close()
		return nil, err
	}
	q.db = stdlib.OpenDBFromPool(pool)
	if _, err := q.db.ExecContext(ctx, readyTable); err != nil {
		pool.Close()
		return nil, fmt.Errorf("prepare the readiness check: %w", err)
	}
	return q, nil
}

func migrate[TTx any](ctx context.Context, driver riverdriver.Driver[TTx]) error {
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return fmt.Errorf("prepare queue migrations: %w", err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("migrate queue schema: %w", err)
	}
	return nil
}

func newQueue[TTx any](cfg Config, m *metrics, driver riverdriver.Driver[TTx], ping func(context.Context) error, closeFn func()) (*Queue, error) {
	rc := &river.Config{
		// A job's retries (GitHub 5xx, a busy lock) back off; past this
		// many attempts the job is discarded and its failure logged.
		MaxAttempts: 10,
		JobTimeout:  cfg.JobTimeout,
		// Only jobs running longer than any job may run are stuck.
		RescueStuckJobsAfter: cfg.JobTimeout + cmp.Or(cfg.Takeover, 10*time.Minute),
		// Completed jobs are the record of which deliveries were
		// handled: keep them past GitHub's 3-day redelivery window.
		CompletedJobRetentionPeriod: 7 * 24 * time.Hour,
		FetchPollInterval:           cfg.PollInterval,
		FetchCooldown:               200 * time.Millisecond,
		Logger:                      riverLogger(cfg.Logger),
	}
	if rc.FetchPollInterval == 0 {
		rc.FetchPollInterval = 200 * time.Millisecond
	}
	h := &handlers{Handlers: cfg.Handlers}
	if !cfg.NoWork {
		workers := river.NewWorkers()
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.pullRequest))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.comment))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.push))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.checkRun))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.drift))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.driftTick))
		river.AddWorker(workers, newWorker(m, cfg.Logger, cfg.JobTimeout, h.maintenance))
		river.AddWorker(workers, newNotifyWorker(m, cfg.Logger, cfg.Notify, cfg.NotifyRetryWait))
		rc.Workers = workers
		tick := cfg.DriftTick
		if tick == 0 {
			tick = time.Minute
		}
		rc.PeriodicJobs = []*river.PeriodicJob{
			river.NewPeriodicJob(river.PeriodicInterval(tick),
				func() (river.JobArgs, *river.InsertOpts) { return jobs.DriftTickJob{}, nil }, nil),
			river.NewPeriodicJob(river.PeriodicInterval(10*time.Minute),
				func() (river.JobArgs, *river.InsertOpts) { return jobs.MaintenanceJob{}, nil }, &river.PeriodicJobOpts{RunOnStart: true}),
		}
		rc.Queues = map[string]river.QueueConfig{
			river.QueueDefault: {MaxWorkers: max(cfg.Workers, 1)},
			jobs.NotifyQueue:   {MaxWorkers: notifyWorkers},
		}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("create queue client: %w", err)
	}
	q := &Queue{
		insert: func(ctx context.Context, args river.JobArgs) (int64, bool, error) {
			res, err := client.Insert(ctx, args, uniqueByDelivery)
			if err != nil {
				return 0, false, err
			}
			return res.Job.ID, res.UniqueSkippedAsDuplicate, nil
		},
		insertMany:    client.InsertMany,
		start:         client.Start,
		stop:          client.Stop,
		stopAndCancel: client.StopAndCancel,
		ping:          ping,
		close:         closeFn,
		ui: func(prefix string, l *slog.Logger) (*riverui.Handler, error) {
			return riverui.NewHandler(&riverui.HandlerOpts{Endpoints: riverui.NewEndpoints(client, nil), Logger: l, Prefix: prefix, JobListHideArgsByDefault: true})
		},
		metrics:     m,
		handlers:    h,
		noWork:      cfg.NoWork,
		reqs:        make(chan insertReq),
		closing:     make(chan struct{}),
		batcherDone: make(chan struct{}),
	}
	go q.batchInserts()
	return q, nil
}

// riverLogger keeps River's own chatter at warnings and above.
func riverLogger(l *slog.Logger) *slog.Logger {
	return slog.New(levelFilter{l.Handler(), slog.LevelWarn}).With("component", "river")
}

type levelFilter struct {
	slog.Handler
	min slog.Level
}

func (f levelFilter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.min && f.Handler.Enabled(ctx, l)
}

func (f levelFilter) WithAttrs(a []slog.Attr) slog.Handler {
	return levelFilter{f.Handler.WithAttrs(a), f.min}
}

func (f levelFilter) WithGroup(n string) slog.Handler {
	return levelFilter{f.Handler.WithGroup(n), f.min}
}

// Enqueue inserts job unless a job for the same delivery exists, in which
// case it returns that job's id and duplicate true.
func (q *Queue) Enqueue(ctx context.Context, job jobs.Job) (id int64, duplicate bool, err error) {
	args, ok := job.(river.JobArgs)
	if !ok {
		return 0, false, fmt.Errorf("enqueue %s: not a queueable job", job.Kind())
	}
	req := insertReq{args: args, key: job.Kind() + "/" + job.Delivery(), res: make(chan insertRes, 1)}
	select {
	case q.reqs <- req:
	case <-q.closing:
		return 0, false, errClosed
	case <-ctx.Done():
		return 0, false, ctx.Err()
	}
	res := <-req.res
	id, duplicate, err = res.id, res.duplicate, res.err
	if err != nil {
		return 0, false, fmt.Errorf("enqueue %s job for delivery %s: %w", job.Kind(), job.Delivery(), err)
	}
	if !duplicate {
		q.metrics.queued.WithLabelValues(job.Kind()).Inc()
	}
	return id, duplicate, nil
}

// Handle gives the queue what does its jobs' work, before Start.
func (q *Queue) Handle(h Handlers) { q.handlers.Handlers = h }

// Start begins working jobs: it refuses to without handlers.
func (q *Queue) Start(ctx context.Context) error {
	if q.handlers.Handlers == nil && !q.noWork {
		return errors.New("start queue: no handlers (Config.Handlers or Handle)")
	}
	if err := q.start(ctx); err != nil {
		return fmt.Errorf("start queue: %w", err)
	}
	return nil
}

// Stop stops fetching jobs and waits for running ones until ctx ends; then it
// cancels them. Cancelled jobs stay in the queue and run again later.
func (q *Queue) Stop(ctx context.Context) error {
	err := q.stop(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err = q.stopAndCancel(cctx)
	}
	return err
}

// DB is the queue's database, for the bot's own tables (locks, applies).
// On SQLite it is the one connection River uses too.
func (q *Queue) DB() *sql.DB { return q.db }

// Ping reports whether the queue can take a job now: the database
// answers and takes a write, and (SQLite) its disk has room.
func (q *Queue) Ping(ctx context.Context) error { return q.ready(ctx) }

// Close releases the database. Stop first.
func (q *Queue) Close() {
	select {
	case <-q.closing:
		return
	default:
	}
	close(q.closing)
	<-q.batcherDone
	q.close()
}

func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data dir %s is in use by another stagebot (lock %s held); run one bot per data dir, or share STAGEBOT_DATABASE_URL=postgres://... between replicas", filepath.Dir(path), path)
	}
	return func() { f.Close() }, nil
}

// withJobLogger puts the job's logger into ctx.
func withJobLogger(ctx context.Context, l *slog.Logger, attrs []any) context.Context {
	return logging.With(ctx, l.With(attrs...))
}

// UI is River UI on the queue, served under prefix (/queue): what the
// queue holds, and what ran. It runs until ctx ends.
func (q *Queue) UI(ctx context.Context, prefix string, l *slog.Logger) (http.Handler, error) {
	h, err := q.ui(prefix, riverLogger(l))
	if err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	if err := h.Start(ctx); err != nil {
		return nil, fmt.Errorf("river ui: %w", err)
	}
	return h, nil
}
