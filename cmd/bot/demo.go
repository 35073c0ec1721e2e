package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stagebot/stagebot"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/demo"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/runner"
)

// demoCmd is the whole product on one machine, with no GitHub App: a
// GitHub-like server with a demo repository (the quickstart, already
// deployed), the bot connected to it as its App, and a pull request that
// changes two stages, whose page a browser shows with the bot's plan
// comments and checks and takes a /apply; the dashboard shows the runs
// and their live logs.
func demoCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", "127.0.0.1:8080", "address of the demo's GitHub: the pull request's page; the bot listens on the next free port")
	dataDir := fs.String("data-dir", "", "directory for the demo's repository, state and bot (default: a new temporary one, removed at the end)")
	tfBin := fs.String("terraform-bin", envOr("terraform-bin", "terraform"), "Terraform binary ["+config.EnvName("terraform-bin")+"]")
	if err := flagsParsed(fs, fs.Parse(args), stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bot demo: unexpected argument %q", fs.Arg(0))}
	}
	dir := *dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "stagebot-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	stateDir := filepath.Join(dir, "state")
	files := stagebot.Quickstart()

	fmt.Fprintln(stderr, "bot demo: deploying the demo platform's main branch (the quickstart's three stages)…")
	// Deployed by hand as the bot will find it: in the repository's own
	// directory of the state dir.
	if err := deployMain(ctx, dir, runner.RepoStateDir(stateDir, demo.Owner+"/"+demo.Name), *tfBin, files); err != nil {
		return fmt.Errorf("bot demo: %w", err)
	}
	// Its GitHub has no authentication (anyone who reaches it comments
	// as you): it is for this machine only.
	if host, _, err := net.SplitHostPort(*listen); err != nil || !isLoopback(host) {
		return usageError{fmt.Sprintf("bot demo: -listen %q: the demo's GitHub lets anyone who reaches it comment as you, so it listens on a loopback address only (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)", *listen)}
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("bot demo: %w (choose another address with -listen)", err)
	}
	d, err := demo.Start(l, filepath.Join(dir, "github"), files)
	if err != nil {
		return fmt.Errorf("bot demo: %w", err)
	}
	defer d.Close()
	botAddr, err := loopbackAddr()
	if err != nil {
		return err
	}
	botURL := "http://" + botAddr
	secret := rand.Text()
	d.GH.RegisterCallbackURL(botURL + "/oauth/callback")
	logPath := filepath.Join(dir, "bot.log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	botCtx, stopBot := context.WithCancel(ctx)
	defer stopBot()
	served := make(chan error, 1)
	go func() {
		// Only these settings: none of the user's environment (the
		// settings of a production bot: its database, its credentials).
		served <- serveIn(botCtx, nil, []string{
			"-listen", botAddr, "-public-url", botURL, "-data-dir", filepath.Join(dir, "bot"), "-state-dir", stateDir,
			"-github-app-id", strconv.FormatInt(githubtest.AppID, 10), "-github-private-key", string(githubtest.AppKeyPEM()),
			"-github-webhook-secret", secret, "-github-api-url", d.GH.URL(), "-github-web-url", d.URL + "/",
			"-github-client-id", githubtest.ClientID, "-github-client-secret", githubtest.ClientSecret,
			// The demo's own repository runs on this machine, as your own
			// code does with bot plan: no pull request of a stranger's.
			"-sandbox", "none", "-terraform-bin", *tfBin, "-workers", "2", "-repo-allowlist", demo.Owner + "/" + demo.Name,
		}, io.Discard, logFile)
	}()
	if err := waitReady(ctx, botURL, served); err != nil {
		return fmt.Errorf("bot demo: the bot did not start (its log: %s): %w", logPath, err)
	}
	d.Connect(botURL+"/webhooks/github", secret)
	if err := d.OpenPR(ctx, "More nodes, and a third tenant", demoChange(files)); err != nil {
		return fmt.Errorf("bot demo: %w", err)
	}
	fmt.Fprintf(stdout, `stagebot demo is running.

  The pull request:  %s
  The dashboard:     %s/  (you are signed in to the demo's GitHub as %q)
  The bot's log:     %s

The pull request changes two stages: infrastructure (5 nodes) and tenant (a
third tenant). The bot plans infrastructure; tenant waits until it is
applied. Comment /apply on the pull request's page to apply it, watch the
run's live log on the dashboard, then /apply the tenant's new plan.
Ctrl-C stops the demo.
`, d.PullURL(1), botURL, demo.User, logPath)
	select {
	case <-ctx.Done():
		stopBot()
		<-served
		return nil
	case err := <-served:
		return fmt.Errorf("bot demo: the bot stopped (its log: %s): %v", logPath, err)
	}
}

// demoChange is the demo pull request: two stages change. The nodes'
// rollout takes ten seconds, printing as it goes, so that its apply's log
// can be watched live on the dashboard.
func demoChange(files map[string]string) map[string]string {
	infra, tenant := "terraform/infrastructure/main.tf", "terraform/tenant/main.tf"
	return map[string]string{
		infra:  strings.Replace(files[infra], "default     = 3", "default     = 5", 1),
		tenant: strings.Replace(files[tenant], `["acme", "globex"]`, `["acme", "globex", "initech"]`, 1),
		"terraform/infrastructure/rollout.tf": `# Rolls the nodes out one by one (the demo's stand-in for a slow resource).
resource "terraform_data" "rollout" {
  triggers_replace = [terraform_data.cluster.input.nodes]
  provisioner "local-exec" {
    command = "for i in 1 2 3 4 5; do echo \"node $i of 5 ready\"; sleep 2; done"
  }
}
`,
	}
}

// deployMain applies the demo repository's main branch with bot apply, so
// that the pull request's plans show changes to a running platform.
func deployMain(ctx context.Context, dir, stateDir, tfBin string, files map[string]string) error {
	repo := filepath.Join(dir, "main")
	for p, c := range files {
		full := filepath.Join(repo, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return err
		}
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "-A"}, {"-c", "user.name=demo", "-c", "user.email=demo@example.com", "commit", "-q", "-m", "main"}} {
		if _, err := gitOut(ctx, repo, args...); err != nil {
			return fmt.Errorf("git %s: %w", args[0], err)
		}
	}
	var log strings.Builder
	err := applyCmd(ctx, []string{"-repo", repo, "-auto-approve", "-data-dir", filepath.Join(dir, "deploy"), "-state-dir", stateDir, "-terraform-bin", tfBin, "-terraform-env", ""}, strings.NewReader(""), io.Discard, &log)
	if err != nil {
		return fmt.Errorf("deploy main: %w\n%s", err, log.String())
	}
	return nil
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// loopbackAddr is a loopback address with a port nobody listens on now.
func loopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// waitReady waits until the bot answers /readyz.
func waitReady(ctx context.Context, url string, served <-chan error) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-served:
			if err == nil {
				err = errors.New("it stopped")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		resp, err := http.Get(url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
	return errors.New("not ready within 60 s")
}
