package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// botBin is the real binary, built once for the tests in this package.
var botBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stagebot-bin")
	if err != nil {
		panic(err)
	}
	botBin = filepath.Join(dir, "bot")
	build := exec.Command("go", "build", "-o", botBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build bot:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const testSecret = "webhook-secret-for-tests"

// bot is a running `bot serve` subprocess.
type bot struct {
	t    testing.TB
	cmd  *exec.Cmd
	URL  string
	mu   sync.Mutex
	logs strings.Builder
	done chan struct{}
}

// botEnv is the environment of a bot talking to fake GitHub gh with its data
// in dataDir.
func botEnv(gh *githubtest.Server, dataDir string) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dataDir,
		"STAGEBOT_LISTEN=127.0.0.1:0",
		fmt.Sprintf("STAGEBOT_GITHUB_APP_ID=%d", githubtest.AppID),
		"STAGEBOT_GITHUB_PRIVATE_KEY=" + string(githubtest.AppKeyPEM()),
		"STAGEBOT_GITHUB_WEBHOOK_SECRET=" + testSecret,
		"STAGEBOT_GITHUB_API_URL=" + gh.URL(),
		"STAGEBOT_DATA_DIR=" + dataDir,
		"STAGEBOT_TERRAFORM_BIN=" + terraformBin(),
		"STAGEBOT_LOG_LEVEL=debug",
		// The workflow tests run Terraform as the bot's user; the sandbox
		// tests (sandbox_test.go) run it isolated.
		"STAGEBOT_SANDBOX=none",
	}
}

// startBot starts the binary and waits until it serves.
func startBot(t testing.TB, env []string) *bot {
	t.Helper()
	return startBotCmd(t, exec.Command(botBin, "serve"), env)
}

// startBotCmd starts cmd, which runs bot serve (perhaps through a shell),
// and waits until it serves.
func startBotCmd(t testing.TB, cmd *exec.Cmd, env []string) *bot {
	t.Helper()
	b := &bot{t: t, cmd: cmd, done: make(chan struct{})}
	b.cmd.Env = env
	// Its own process group, so that killing the bot also kills the git and
	// Terraform it started, as a pod's or a machine's death would; otherwise
	// they could still write into the test's directories while those are
	// removed.
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := b.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() {
		defer close(b.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			b.mu.Lock()
			b.logs.WriteString(line + "\n")
			b.mu.Unlock()
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "stagebot serving" {
				addr <- rec.Addr
			}
		}
		b.cmd.Wait()
	}()
	t.Cleanup(func() {
		b.killGroup()
		<-b.done
		if t.Failed() {
			t.Logf("bot logs:\n%s", b.Logs())
		}
	})
	select {
	case a := <-addr:
		b.URL = "http://" + a
	case <-b.done:
		t.Fatalf("bot exited before serving:\n%s", b.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("bot did not start serving in 30s:\n%s", b.Logs())
	}
	return b
}

// Logs returns what the bot has logged so far.
func (b *bot) Logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logs.String()
}

// kill9 kills the bot the hard way and waits for it to be gone.
func (b *bot) kill9() {
	b.killGroup()
	<-b.done
}

// killGroup sends SIGKILL to the bot and every process it started, and
// waits (up to 5 s) until none of them runs any more.
func (b *bot) killGroup() {
	pgid := b.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGKILL)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline) && groupRuns(pgid); {
		time.Sleep(10 * time.Millisecond)
	}
}

// groupRuns reports whether a process of group pgid is alive: one that is
// not a zombie, since orphans may stay zombies until something reaps them.
func groupRuns(pgid int) bool {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range stats {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...; comm may hold spaces.
		i := bytes.LastIndex(b, []byte(") "))
		if f := strings.Fields(string(b[i+1:])); i > 0 && len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			return true
		}
	}
	return false
}

// stop sends SIGTERM and waits for a clean exit.
func (b *bot) stop() {
	b.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-b.done:
	case <-time.After(30 * time.Second):
		b.t.Fatalf("bot did not stop on SIGTERM:\n%s", b.Logs())
	}
}

func (b *bot) deliver(t *testing.T, d githubtest.Delivery) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(d.Request(b.URL + "/webhooks/github"))
	if err != nil {
		t.Fatalf("deliver %s: %v", d.ID, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dataDir is the bot's STAGEBOT_DATA_DIR.
func (b *bot) dataDir() string {
	for _, kv := range b.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "STAGEBOT_DATA_DIR="); ok {
			return v
		}
	}
	return ""
}

// terraformLogs are the Terraform logs in a bot's data dir, by path.
func terraformLogs(data string) map[string]string {
	logs := map[string]string{}
	filepath.WalkDir(filepath.Join(data, "logs"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := os.ReadFile(p)
			logs[p] = string(b)
		}
		return nil
	})
	return logs
}
