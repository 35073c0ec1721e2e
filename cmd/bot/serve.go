package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/drift"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/server"
	"github.com/stagebot/stagebot/internal/store"
	"github.com/stagebot/stagebot/internal/workflow"
)

// serve runs the bot: settings, wiring, listening, and a shutdown that
// drains the queue and lets running applies end.
func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return serveIn(ctx, os.Environ(), args, stdout, stderr)
}

// serveIn is serve with environ as its environment: bot demo's bot takes
// none of the user's STAGEBOT_* settings (a production database, its
// credentials), only its flags.
func serveIn(ctx context.Context, environ, args []string, stdout, stderr io.Writer) error {
	s, log, err := serveSettings(environ, args, stdout, stderr)
	if err != nil {
		return err
	}
	b, err := wire(ctx, *s, log)
	if err != nil {
		return err
	}
	defer b.queue.Close()
	httpSrv, serveErr, err := listen(ctx, *s, b, log)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		log.Info("stopping: no new deliveries; waiting for running jobs", "timeout", s.ShutdownTimeout.String())
	case err := <-serveErr:
		log.Error("http server failed", "error", err.Error())
	}
	shutdown(*s, httpSrv, b, log)
	return nil
}

// serveSettings reads and checks the settings (flags, environment, the
// App stored by setup), and makes the logger they ask for.
func serveSettings(environ, args []string, stdout, stderr io.Writer) (*config.Settings, *slog.Logger, error) {
	fs := flag.NewFlagSet("bot serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.String("env-file", "", "a file of KEY=value settings (as bot setup --print writes); the environment wins over it")
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	lookup, args, err := withEnvFile(args, func(name string) string { return env[name] })
	if err != nil {
		return nil, nil, err
	}
	s, err := config.Load(fs, args, lookup)
	var fe *config.FlagError
	if errors.As(err, &fe) {
		return nil, nil, flagsParsed(fs, fe.Err, stdout, stderr)
	}
	if err != nil {
		return nil, nil, err // a setting's value: the bot cannot start
	}
	if err := loadStoredApp(&s); err != nil {
		return nil, nil, fmt.Errorf("cannot start: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, nil, fmt.Errorf("cannot start:\n%w", err)
	}
	log := logging.New(stderr, s.LogLevel)
	unknown := config.UnknownEnv(environ)
	for _, name := range slices.Sorted(maps.Keys(unknown)) {
		if near := unknown[name]; near != "" {
			log.Warn("unknown setting in the environment: ignored", "name", name, "did_you_mean", near)
		} else {
			log.Warn("unknown setting in the environment: ignored", "name", name)
		}
	}
	return &s, log, nil
}

// wired is the bot's parts, connected.
type wired struct {
	queue    *queue.Queue
	workflow *workflow.Workflow
	handler  http.Handler
	// notifier queues notifications (nil without a notifications file).
	notifier *notify.Notifier
}

// notifySender is what delivers the queue's notifications: nil without a
// notifications file.
func notifySender(cfg *notify.Config, secrets *redact.Set) func(context.Context, jobs.NotifyJob) error {
	if cfg == nil {
		return nil
	}
	sender := notify.NewSender(cfg, secrets)
	return func(ctx context.Context, j jobs.NotifyJob) error { return sender.Send(ctx, j.Target, j.Event) }
}

// wire builds the bot's parts from its settings: the GitHub App, the
// queue and store on one database, the runner, the workflow with its drift
// checker, the dashboard and the HTTP handler. Nothing runs yet.
func wire(ctx context.Context, s config.Settings, log *slog.Logger) (*wired, error) {
	key, keyPEM, err := s.PrivateKey()
	if err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	app, err := gh.NewApp(gh.AppConfig{AppID: s.GitHubAppID, PrivateKey: key, APIURL: s.GitHubAPIURL})
	if err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	if err := protectProcess(); err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	// Settings are checked before the machine: a malformed key is named
	// first.
	var planKeys *seal.Keyring
	if s.PlanKeys != "" {
		if planKeys, err = seal.Parse(s.PlanKeys); err != nil {
			return nil, fmt.Errorf("cannot start: setting %s: %w", config.EnvName("plan-keys"), err)
		}
	}
	secrets := botSecrets(s, keyPEM)
	// The targets' URLs and secrets join the secrets: no comment, log or
	// notification shows them.
	notifications, err := s.LoadNotifications(os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	secrets.AddCredentials(notifications.Secrets()...)
	tfCfg, err := terraformConfig(s, log, secrets)
	if err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "stagebot_sandbox_quarantined_uids",
		Help: "Sandbox uids never handed out again: their processes could not be proven gone.",
	}, func() float64 { return float64(tfCfg.Sandbox.Quarantined()) }))
	tfCfg.PlanKeys = planKeys
	tfCfg.Registerer = reg
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "stagebot_build_info",
		Help: "Always 1: the bot's version, the commit it was built from and its Go version.",
	}, []string{"version", "commit", "goversion"})
	buildInfo.WithLabelValues(version, buildCommit(), runtime.Version()).Set(1)
	reg.MustRegister(buildInfo)
	q, err := queue.Open(ctx, queue.Config{
		DatabaseURL: s.DatabaseURL,
		SQLitePath:  s.DatabasePath(),
		Workers:     s.Workers,
		JobTimeout:  s.JobTimeout,
		Takeover:    s.Takeover,
		Logger:      log,
		Registerer:  reg,
		DriftTick:   s.DriftTick,

		Notify:          notifySender(notifications, secrets),
		NotifyRetryWait: s.NotificationsRetryWait,
	})
	if err != nil {
		return nil, fmt.Errorf("cannot start: %w", err)
	}
	b := &wired{queue: q, notifier: notify.NewNotifier(notifications, secrets, func(ctx context.Context, target string, ev notify.Event) error {
		_, _, err := q.Enqueue(ctx, jobs.NotifyJob{Target: target, Event: ev})
		return err
	})}
	cfg := workflow.Config{
		Installation: func(id int64) workflow.GitHub { return app.Installation(id) },
		Secrets:      secrets,
		Serves:       s.AllowsRepo,
	}
	if err := b.connect(ctx, s, app, cfg, tfCfg, reg, log); err != nil {
		q.Close()
		return nil, err
	}
	return b, nil
}

// connect makes, on the queue's database, the store, the runner and the
// workflow (cfg completed), gives the queue its work, and makes the HTTP
// handler.
func (b *wired) connect(ctx context.Context, s config.Settings, app *gh.App, cfg workflow.Config, tfCfg runner.Config, reg *prometheus.Registry, log *slog.Logger) error {
	q := b.queue
	st, err := store.Open(ctx, q.DB())
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	tfCfg.Plans = st.Plans()
	tfCfg.Runs = st.RunLog(replicaName())
	if s.DatabaseURL != "" {
		// Any replica shows and applies any plan: none is on one's disk.
		tfCfg.Files = st.PlanFiles()
	}
	run, err := runner.New(ctx, tfCfg)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	driftGauge, err := drift.NewGauge(reg)
	if err != nil {
		return err
	}
	diskGauge, err := workflow.NewDiskGauge(reg)
	if err != nil {
		return err
	}
	cfg.Store, cfg.Runner, cfg.Shared, cfg.LeaseTTL = st, run, s.DatabaseURL != "", s.Takeover
	cfg.Parallelism, cfg.InstanceCheckRuns, cfg.PublicURL = s.InstanceParallelism, s.InstanceCheckRuns, s.PublicURL
	cfg.Limits = workflow.Limits{Instances: s.MaxInstances, Stages: s.MaxStages, ChangedFiles: s.MaxChangedFiles, TreeFiles: s.MaxTreeFiles, QuotaShare: s.GitHubQuotaShare}
	cfg.Drifts = &drift.Checker{Runner: run, Store: st, Changes: driftGauge}
	cfg.Retention = runner.Retention{Logs: s.LogRetention, PluginCacheBytes: s.PluginCacheMaxBytes}
	cfg.DiskUsage = diskGauge
	cfg.Notifier, cfg.GitHubWebURL = b.notifier, s.WebURL()
	cfg.Enqueue = func(ctx context.Context, job jobs.Job) error {
		_, _, err := q.Enqueue(ctx, job)
		return err
	}
	wf, err := workflow.New(cfg)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	b.workflow = wf
	q.Handle(wf)
	if q.Requeued > 0 {
		log.Warn("jobs interrupted by the previous stop will run again", "jobs", q.Requeued)
	}
	if targets := b.notifier.Targets(); len(targets) > 0 {
		log.Info("notifications are sent", "targets", targets)
	}
	if len(s.RepoAllowlist) == 0 {
		log.Warn("every repository the App is installed on is served: set STAGEBOT_REPO_ALLOWLIST to the ones it should deploy")
	}
	var dash http.Handler
	if s.PublicURL != "" {
		if dash, err = dashboard(ctx, s, app, q, st, wf, log); err != nil {
			return fmt.Errorf("cannot start: %w", err)
		}
	}
	b.handler, err = server.New(server.Config{WebhookSecret: []byte(s.GitHubWebhookSecret), Queue: q, Replays: st.Replays(), Logger: log, Registry: reg, AllowRepo: s.AllowsRepo, Web: dash})
	return err
}

// listen starts the queue's workers and the HTTP server; the channel
// reports the server's failure.
func listen(ctx context.Context, s config.Settings, b *wired, log *slog.Logger) (*http.Server, <-chan error, error) {
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot start: listen on %s: %w", s.Listen, err)
	}
	httpSrv := &http.Server{
		Handler:           b.handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	// River lives until Stop, not until ctx: a signal should drain it, not
	// cut running jobs off.
	if err := b.queue.Start(context.WithoutCancel(ctx)); err != nil {
		ln.Close()
		return nil, nil, err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	database := "sqlite"
	if s.DatabaseURL != "" {
		database = "postgres"
	}
	log.Info("stagebot serving", "addr", ln.Addr().String(), "version", version, "database", database, "workers", s.Workers)
	return httpSrv, serveErr, nil
}

// shutdown stops taking deliveries, drains the queue within the shutdown
// bound, then interrupts running applies (Terraform's own graceful stop)
// and waits for them to exit.
func shutdown(s config.Settings, httpSrv *http.Server, b *wired, log *slog.Logger) {
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("http shutdown", "error", err.Error())
	}
	stopCtx, cancelStop := context.WithTimeout(context.Background(), s.ShutdownTimeout)
	defer cancelStop()
	// Past the shutdown bound, running applies get SIGINT: Terraform's own
	// graceful stop, which finishes what it does to a resource, writes its
	// state and releases its lock. The bot waits for them to exit.
	run := b.workflow.Runner
	go func() {
		<-stopCtx.Done()
		run.Interrupt()
	}()
	if err := b.queue.Stop(stopCtx); err != nil {
		log.Warn("queue stop", "error", err.Error())
	}
	run.Interrupt()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), applyGrace+30*time.Second)
	defer cancelWait()
	if err := run.Wait(waitCtx); err != nil {
		log.Error("an apply did not stop in time", "error", err.Error())
	}
	log.Info("stopped")
}
