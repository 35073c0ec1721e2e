package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/drift"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/server"
	"github.com/stagebot/stagebot/internal/store"
	"github.com/stagebot/stagebot/internal/workflow"
)

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s, err := config.Load(fs, args, envLookup)
	var fe *config.FlagError
	if errors.As(err, &fe) {
		return flagsParsed(fs, fe.Err, stdout, stderr)
	}
	if err != nil {
		return err // a setting's value: the bot cannot start
	}
	if err := loadStoredApp(&s); err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	if err := s.Validate(); err != nil {
		return fmt.Errorf("cannot start:\n%w", err)
	}
	key, keyPEM, err := s.PrivateKey()
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	log := logging.New(stderr, s.LogLevel)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	app, err := gh.NewApp(gh.AppConfig{AppID: s.GitHubAppID, PrivateKey: key, APIURL: s.GitHubAPIURL})
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	if err := protectProcess(); err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	secrets := botSecrets(s, keyPEM)
	tfCfg, err := terraformConfig(s, log, secrets)
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	if s.PlanKeys != "" {
		if tfCfg.PlanKeys, err = seal.Parse(s.PlanKeys); err != nil {
			return fmt.Errorf("cannot start: setting %s: %w", config.EnvName("plan-keys"), err)
		}
	}
	wf := &workflow.Workflow{
		Installation: func(id int64) workflow.GitHub { return app.Installation(id) },
		Secrets:      secrets,
		Serves:       s.AllowsRepo,
	}

	q, err := queue.Open(ctx, queue.Config{
		DatabaseURL: s.DatabaseURL,
		SQLitePath:  s.DatabasePath(),
		Workers:     s.Workers,
		JobTimeout:  s.JobTimeout,
		Takeover:    s.Takeover,
		Handlers:    wf,
		Logger:      log,
		Registerer:  reg,
		DriftTick:   s.DriftTick,
	})
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	defer q.Close()
	st, err := store.Open(ctx, q.DB())
	if err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	wf.Store = st
	wf.Shared = s.DatabaseURL != ""
	wf.LeaseTTL = s.Takeover
	wf.Parallelism = s.InstanceParallelism
	tfCfg.Plans = st.Plans()
	tfCfg.Runs = st.RunLog(replicaName())
	wf.PublicURL = s.PublicURL
	if s.DatabaseURL != "" {
		// Any replica shows and applies any plan: none is on one's disk.
		tfCfg.Files = st.PlanFiles()
	}
	if wf.Runner, err = runner.New(ctx, tfCfg); err != nil {
		return fmt.Errorf("cannot start: %w", err)
	}
	driftGauge, err := drift.NewGauge(reg)
	if err != nil {
		return err
	}
	wf.Drifts = &drift.Checker{Runner: wf.Runner, Store: st, Changes: driftGauge}
	wf.Retention = runner.Retention{Logs: s.LogRetention, PluginCacheBytes: s.PluginCacheMaxBytes}
	if wf.DiskUsage, err = workflow.NewDiskGauge(reg); err != nil {
		return err
	}
	wf.Enqueue = func(ctx context.Context, job jobs.Job) error {
		_, _, err := q.Enqueue(ctx, job)
		return err
	}
	if q.Requeued > 0 {
		log.Warn("jobs interrupted by the previous stop will run again", "jobs", q.Requeued)
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
	srv, err := server.New(server.Config{WebhookSecret: []byte(s.GitHubWebhookSecret), Queue: q, Logger: log, Registry: reg, AllowRepo: s.AllowsRepo, Web: dash})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("cannot start: listen on %s: %w", s.Listen, err)
	}
	httpSrv := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
	// River lives until Stop, not until ctx: a signal should drain it, not
	// cut running jobs off.
	if err := q.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	database := "sqlite"
	if s.DatabaseURL != "" {
		database = "postgres"
	}
	log.Info("stagebot serving", "addr", ln.Addr().String(), "version", version, "database", database, "workers", s.Workers)

	select {
	case <-ctx.Done():
		log.Info("stopping: no new deliveries; waiting for running jobs", "timeout", s.ShutdownTimeout.String())
	case err := <-serveErr:
		log.Error("http server failed", "error", err.Error())
	}
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
	go func() {
		<-stopCtx.Done()
		wf.Runner.Interrupt()
	}()
	if err := q.Stop(stopCtx); err != nil {
		log.Warn("queue stop", "error", err.Error())
	}
	wf.Runner.Interrupt()
	waitCtx, cancelWait := context.WithTimeout(context.Background(), applyGrace+30*time.Second)
	defer cancelWait()
	if err := wf.Runner.Wait(waitCtx); err != nil {
		log.Error("an apply did not stop in time", "error", err.Error())
	}
	log.Info("stopped")
	return nil
}
