package main

import (
	"bufio"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A root variable declared sensitive is secret wherever its value goes,
// nonsensitive() included (redact.PlanValues). bot apply prints the plan
// with it redacted, but when the apply then fails, the error it prints is
// Terraform's raw output, redacted only with the upstream outputs and
// credentials: the plan's own sensitive values are not applied to it
// (view.Plan stays nil on the error path).
func TestAttack5BotApplyFailureLeaksPlanSensitiveValue(t *testing.T) {
	const secret = "s3cr3t-apply-fail-7f3a9c"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"stagebot.yaml": "version: 1\nstages:\n  - name: app\n    dir: terraform/app\n",
		"terraform/app/main.tf": `
variable "db_password" {
  type      = string
  sensitive = true
  default   = "` + secret + `"
}
resource "terraform_data" "x" {
  input = var.db_password
  provisioner "local-exec" {
    command = "echo leaked=${nonsensitive(var.db_password)}; exit 3"
  }
}
`,
	})
	git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "base")
	out, stderr, code := botLocal(t, t.TempDir(), "", "apply", "--repo", dir, "-auto-approve")
	if code == 0 {
		t.Fatalf("the apply was meant to fail: %s\n%s", stderr, out)
	}
	if !strings.Contains(out, "apply failed") {
		t.Fatalf("no apply-failed comment printed (exit %d): %s\n%s", code, stderr, out)
	}
	if strings.Contains(out, secret) || strings.Contains(stderr, secret) {
		t.Errorf("bot apply printed the plan's sensitive value %q in its failed apply's comment:\n%s", secret, out)
	}
}

// bot demo starts its bot with `serve` in-process and passes only some
// settings as flags: every other STAGEBOT_* variable of the user's
// environment applies to it. An operator whose shell holds the settings of
// their production bot (STAGEBOT_DATABASE_URL, STAGEBOT_PLAN_KEYS, ...)
// and tries `bot demo` gets a demo bot, running Terraform unisolated and
// talking to a fake GitHub, that joins the production queue: it connects to
// the production PostgreSQL. Here a listener stands in for that database;
// the demo must never connect to it.
func TestAttack5DemoJoinsTheProductionDatabaseFromTheEnvironment(t *testing.T) {
	db, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	connected := make(chan struct{}, 1)
	go func() {
		for {
			c, err := db.Accept()
			if err != nil {
				return
			}
			select {
			case connected <- struct{}{}:
			default:
			}
			c.Close()
		}
	}()
	key := make([]byte, 32)
	rand.Read(key)
	cmd := exec.Command(botBin, "demo", "-listen", "127.0.0.1:0", "-data-dir", t.TempDir())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STAGEBOT_TERRAFORM_BIN=" + terraformBin(),
		// The production bot's settings, as the operator's shell holds them.
		"STAGEBOT_DATABASE_URL=postgres://stagebot:prod-db-password@" + db.Addr().String() + "/stagebot?sslmode=disable",
		"STAGEBOT_PLAN_KEYS=" + base64.StdEncoding.EncodeToString(key),
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	// Once it prints the pull request, its bot serves: it has opened its
	// database, which must be its own.
	started := false
	for sc := bufio.NewScanner(stdout); !started && sc.Scan(); {
		started = strings.Contains(sc.Text(), "The pull request:")
	}
	if !started {
		cmd.Wait()
		t.Fatalf("bot demo did not start: %s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)
	select {
	case <-connected:
		t.Error("bot demo connected to the database of STAGEBOT_DATABASE_URL (the user's production bot's)")
	case <-time.After(time.Second):
	}
}

// The same gap on the server: /apply's comment of a failed apply is
// Terraform's raw output, redacted with the repository's known secrets
// only, not with the sensitive values of the plan that was applied (its
// view has no Plan on the /apply path), which its plan comment redacted.
func TestAttack5ServerFailedApplyLeaksPlanSensitiveValue(t *testing.T) {
	const secret = "s3cr3t-server-apply-fail-52be"
	f := newPRFlow(t)
	head := f.open(20, "alice", map[string]string{"terraform/infrastructure/leak.tf": `
variable "api_token" {
  type      = string
  sensitive = true
  default   = "` + secret + `"
}
resource "terraform_data" "leak" {
  input = var.api_token
  provisioner "local-exec" {
    command = "echo token=${nonsensitive(var.api_token)}; exit 3"
  }
}
`}, 1)
	plan := f.stageComment(20, "infrastructure", "to add")
	if strings.Contains(plan, secret) {
		t.Fatalf("the plan comment already shows it:\n%s", plan)
	}
	f.gh.AddReview(f.repo, 20, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.say(20, "alice", "/apply infrastructure")
	failed := f.stageComment(20, "infrastructure", "apply failed")
	if strings.Contains(failed, secret) {
		t.Errorf("the failed apply's comment shows the plan's sensitive value %q:\n%s", secret, failed)
	}
}

// bot demo's GitHub has no authentication: its comment form takes a
// /apply, its OAuth signs anyone in as the admin "you", and its App key is
// compiled into the binary. Asked for an address other machines reach, it
// refuses, and serves nothing.
func TestAttack5DemoServesItsUnauthenticatedGitHubBeyondLoopback(t *testing.T) {
	for _, listen := range []string{"0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:8080"} {
		cmd := exec.Command(botBin, "demo", "-listen", listen, "-data-dir", t.TempDir())
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STAGEBOT_TERRAFORM_BIN=" + terraformBin()}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "listens on a loopback address only") {
			t.Errorf("bot demo -listen %s: %v\n%s", listen, err, out)
		}
	}
}
