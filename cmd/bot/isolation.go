package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/sandbox"
)

// applyGrace is how long Terraform may take to stop after SIGINT before it
// is killed: the chart's terminationGracePeriodSeconds covers the shutdown
// timeout, this, and a margin.
const applyGrace = time.Minute

// protectProcess keeps the bot's secrets to the bot: files it creates are
// its own (the SQLite database among them), and its environment and memory
// cannot be read by processes of its user (a PR's Terraform in sandbox mode
// none runs as that user).
func protectProcess() error {
	syscall.Umask(0o077)
	return sandbox.NotDumpable()
}

// botSecrets are the bot's own secrets: redacted wherever they would show.
func botSecrets(s config.Settings, keyPEM []byte) *redact.Set {
	secrets := redact.New()
	secrets.AddCredentials(s.GitHubWebhookSecret, string(keyPEM), s.DatabaseURL, s.GitHubClientSecret, sessionKeys(s))
	for _, k := range strings.Split(s.PlanKeys+","+s.WebSessionKeys, ",") {
		secrets.AddCredentials(strings.TrimSpace(k))
	}
	if u, err := url.Parse(s.DatabaseURL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			secrets.AddCredentials(pw, url.QueryEscape(pw))
		}
	}
	return secrets
}

// terraformConfig is how Terraform runs: in which sandbox, with which
// variables for plans and for applies. The credentials join secrets.
func terraformConfig(s config.Settings, log *slog.Logger, secrets *redact.Set) (runner.Config, error) {
	sb, err := newSandbox(s, log)
	if err != nil {
		return runner.Config{}, err
	}
	creds, err := s.LoadCredentials(os.LookupEnv)
	if err != nil {
		return runner.Config{}, err
	}
	for _, name := range creds.Missing {
		log.Warn("a credential variable is not set", "name", name)
	}
	secrets.AddCredentials(creds.Values()...)
	shared := map[string]string{}
	for _, name := range s.TerraformEnv {
		if v, ok := os.LookupEnv(name); ok {
			shared[name] = v
			secrets.AddCredentials(v)
		} else {
			log.Warn("allowlisted Terraform variable is not set", "name", name)
		}
	}
	stages := map[string]runner.Credentials{}
	for name, c := range creds.Stages {
		stages[name] = runner.Credentials{Plan: c.Plan, Apply: c.Apply}
	}
	for name := range creds.Apply {
		if _, both := shared[name]; both {
			return runner.Config{}, fmt.Errorf("%s is both in %s (plans and applies) and an apply credential: a plan would get it", name, config.EnvName("terraform-env"))
		}
	}
	releasesKey, err := s.TerraformReleasesKey()
	if err != nil {
		return runner.Config{}, err
	}
	return runner.Config{
		TerraformBin: s.TerraformBin, TerraformVersionsDir: s.TerraformVersionsDir, TofuBin: s.TofuBin, DataDir: s.DataDir, StateDir: s.StateDir, Timeout: s.JobTimeout, GracePeriod: applyGrace,
		TerraformInstall: s.TerraformInstall, TerraformReleases: runner.ReleaseSource{URL: s.TerraformReleasesURL, ArmoredKey: releasesKey},
		PlanRetries: planRetries(s.PlanRetries), PlanRetryWait: s.PlanRetryWait,
		Env: shared, PlanEnv: creds.Plan, ApplyEnv: creds.Apply, Stages: stages,
		Sandbox: sb, Egress: s.SandboxEgress, Secrets: secrets, MaxCheckoutBytes: s.MaxCheckoutBytes,
	}, nil
}

// newSandbox sets up the sandbox the settings ask for. As root, auto
// means uid and never falls back: where the sandbox's users cannot reach
// the data dir or Terraform, the bot refuses to start and says what to
// change. none is only ever chosen: by the setting, or by running as
// another user than root.
func newSandbox(s config.Settings, log *slog.Logger) (*sandbox.Sandbox, error) {
	mode := s.Sandbox
	if mode != sandbox.ModeNone && os.Geteuid() == 0 {
		if err := sandboxPaths(s); err != nil {
			return nil, fmt.Errorf("sandbox: %w. As root the bot runs each pull request's Terraform as a user of its own, who must reach the data dir and the Terraform binary: let it (chmod o+x on that directory), or set %s to a directory under one it can enter (such as /var/lib/stagebot), or choose to run unisolated with %s=none",
				err, config.EnvName("data-dir"), config.EnvName("sandbox"))
		}
	}
	sb, err := sandbox.New(sandbox.Config{Mode: mode, UIDs: s.SandboxUIDs, GID: s.SandboxGID, StateDir: filepath.Join(s.DataDir, "sandbox"), Log: log})
	if err != nil {
		return nil, err
	}
	if !sb.Isolated() {
		log.Warn("sandbox: none. A pull request's Terraform runs as the bot's user and can read what it can: the data dir (database, saved plans, other checkouts) and the App key file; every plan comment says so. Run the bot as root for the uid sandbox; see README \"Isolation\"")
		return sb, nil
	}
	f := sb.Features()
	log.Info("sandbox: each Terraform run has a uid of its own", "uids", s.SandboxUIDs, "gid", s.SandboxGID,
		"pid_namespace", f.PID, "network_namespace", f.Net, "cgroup", f.Cgroup)
	for _, m := range f.Missing {
		log.Warn("sandbox: one protection is missing (" + m + "); see README \"Isolation\" for what still holds")
	}
	return sb, nil
}

// sandboxPaths makes the data dir, and any parent of it that does not
// exist yet, enterable by the sandbox's users, and checks that they could
// reach its parent and the Terraform binary.
func sandboxPaths(s config.Settings) error {
	data, err := filepath.Abs(s.DataDir)
	if err != nil {
		return err
	}
	if err := mkdirsEnterable(data); err != nil {
		return err
	}
	bin, err := exec.LookPath(s.TerraformBin)
	if err != nil {
		return nil // runner.New says so
	}
	if err := sandbox.Reachable(filepath.Dir(data)); err != nil {
		return err
	}
	if s.TofuBin != "" {
		if tofu, err := exec.LookPath(s.TofuBin); err == nil {
			if err := sandbox.Reachable(tofu); err != nil {
				return err
			}
		}
	}
	return sandbox.Reachable(bin)
}

// mkdirsEnterable makes dir and its missing parents, each mode 0711:
// others may pass through, not list.
func mkdirsEnterable(dir string) error {
	if _, err := os.Stat(dir); err == nil {
		return nil
	}
	if err := mkdirsEnterable(filepath.Dir(dir)); err != nil {
		return err
	}
	if err := os.Mkdir(dir, 0o711); err != nil && !os.IsExist(err) {
		return err
	}
	return os.Chmod(dir, 0o711)
}

// planRetries is the setting as the runner counts it: 0 there is its
// default, -1 never.
func planRetries(setting int) int {
	if setting == 0 {
		return -1
	}
	return setting
}
