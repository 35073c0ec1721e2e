package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

func TestServeRefusesToStartWithoutSettings(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	os.WriteFile(garbage, []byte("SECRETKEYMATERIAL not a key"), 0o600)
	base := []string{"PATH=" + os.Getenv("PATH"), "STAGEBOT_DATA_DIR=" + dir, "STAGEBOT_LISTEN=127.0.0.1:0"}
	tests := []struct {
		name    string
		env     []string
		want    []string
		notWant string
	}{
		{"nothing set", nil, []string{"STAGEBOT_GITHUB_APP_ID", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE", "STAGEBOT_GITHUB_WEBHOOK_SECRET"}, ""},
		{"no webhook secret", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + garbage}, []string{"missing setting STAGEBOT_GITHUB_WEBHOOK_SECRET"}, "STAGEBOT_GITHUB_APP_ID"},
		{"app id not a number", []string{"STAGEBOT_GITHUB_APP_ID=abc", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + garbage, "STAGEBOT_GITHUB_WEBHOOK_SECRET=x"}, []string{"STAGEBOT_GITHUB_APP_ID", "positive integer"}, ""},
		{"key file missing", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + dir + "/nope.pem", "STAGEBOT_GITHUB_WEBHOOK_SECRET=x"}, []string{"read GitHub App private key", "no such file"}, ""},
		{"key malformed", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + garbage, "STAGEBOT_GITHUB_WEBHOOK_SECRET=x"}, []string{"not a PEM-encoded key"}, "SECRETKEYMATERIAL"},
		{"inline key malformed", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY=SECRETKEYMATERIAL", "STAGEBOT_GITHUB_WEBHOOK_SECRET=x"}, []string{"not a PEM-encoded key"}, "SECRETKEYMATERIAL"},
		{"database without plan keys", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + garbage, "STAGEBOT_GITHUB_WEBHOOK_SECRET=x", "STAGEBOT_DATABASE_URL=postgres://u:hunter3@db/x"}, []string{"missing setting STAGEBOT_PLAN_KEYS", "openssl rand -base64 32"}, "hunter3"},
		{"plan key malformed", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY=" + string(githubtest.AppKeyPEM()), "STAGEBOT_GITHUB_WEBHOOK_SECRET=x", "STAGEBOT_PLAN_KEYS=c2VjcmV0LWJ1dC1zaG9ydA=="}, []string{"STAGEBOT_PLAN_KEYS", "not 32 bytes in base64"}, "c2VjcmV0LWJ1dC1zaG9ydA"},
		{"database url not postgres", []string{"STAGEBOT_GITHUB_APP_ID=1", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE=" + garbage, "STAGEBOT_GITHUB_WEBHOOK_SECRET=x", "STAGEBOT_DATABASE_URL=mysql://u:hunter2@db/x"}, []string{"STAGEBOT_DATABASE_URL", "postgres://"}, "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(botBin, "serve")
			cmd.Env = append(append([]string{}, base...), tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("exit = %v, want status 1; stderr:\n%s", err, stderr.String())
			}
			out := stderr.String()
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("stderr lacks %q:\n%s", w, out)
				}
			}
			if tt.notWant != "" && strings.Contains(out, tt.notWant) {
				t.Errorf("stderr contains %q:\n%s", tt.notWant, out)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("stderr has a stack trace:\n%s", out)
			}
			// A log collector reads the same, as a JSON line.
			found := false
			for _, line := range strings.Split(out, "\n") {
				var rec struct{ Level, Msg, Error string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "ERROR" && rec.Msg == "stagebot cannot start" && strings.Contains(rec.Error, tt.want[0]) {
					found = true
				}
			}
			if !found {
				t.Errorf("no JSON log line says why the bot cannot start:\n%s", out)
			}
		})
	}
}

// metric sums the samples of a Prometheus metric whose line starts with
// prefix (name and optionally labels).
func metric(t *testing.T, b *bot, prefix string) float64 {
	t.Helper()
	resp, err := http.Get(b.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if strings.HasPrefix(line, prefix) {
			f := strings.Fields(line)
			v, _ := strconv.ParseFloat(f[len(f)-1], 64)
			sum += v
		}
	}
	return sum
}

// fixture is a fake GitHub with one repository and one open PR.
func fixture(t *testing.T) (*githubtest.Server, *githubtest.Repo) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", map[string]string{"README.md": "platform\n"}, "initial")
	head := gh.Commit(repo, "change", "main", map[string]string{"terraform/x.tf": "# change\n"}, "change")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Title: "Change", Author: "alice", HeadRef: "change", HeadSHA: head, BaseSHA: base})
	gh.SetPermission(repo, "alice", "write")
	return gh, repo
}

func TestWebhookEndpoint(t *testing.T) {
	gh, repo := fixture(t)
	b := startBot(t, botEnv(gh, t.TempDir()))
	helpID := gh.AddComment(repo, 1, "alice", "/help")
	chatID := gh.AddComment(repo, 1, "alice", "LGTM, but see /help for the commands")
	signed := func(event, id string, body []byte) githubtest.Delivery {
		return githubtest.Delivery{Event: event, ID: id, Body: body, Secret: testSecret}
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
		queued float64 // jobs queued after this request, in total
	}{
		{"no signature", func() *http.Request {
			return githubtest.Delivery{Event: "issue_comment", ID: "a1", Body: gh.CommentPayload(repo, 1, helpID)}.Request(b.URL + "/webhooks/github")
		}, 401, 0},
		{"wrong signature", func() *http.Request {
			return githubtest.Delivery{Event: "issue_comment", ID: "a2", Body: gh.CommentPayload(repo, 1, helpID), Secret: "guess"}.Request(b.URL + "/webhooks/github")
		}, 401, 0},
		{"signature of another body", func() *http.Request {
			req := signed("issue_comment", "a3", gh.CommentPayload(repo, 1, helpID)).Request(b.URL + "/webhooks/github")
			req.Header.Set("X-Hub-Signature-256", "sha256="+strings.Repeat("0", 64))
			return req
		}, 401, 0},
		{"form encoded", func() *http.Request {
			req := signed("issue_comment", "a4", gh.CommentPayload(repo, 1, helpID)).Request(b.URL + "/webhooks/github")
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			return req
		}, 400, 0},
		{"malformed JSON", func() *http.Request {
			return signed("issue_comment", "a5", []byte(`{"action": "created", `)).Request(b.URL + "/webhooks/github")
		}, 400, 0},
		{"malformed JSON of an ignored event", func() *http.Request {
			return signed("star", "a6", []byte(`{nope`)).Request(b.URL + "/webhooks/github")
		}, 400, 0},
		{"JSON without a repository", func() *http.Request {
			return signed("pull_request", "a7", []byte(`{"action":"opened"}`)).Request(b.URL + "/webhooks/github")
		}, 400, 0},
		{"no delivery id", func() *http.Request {
			return signed("issue_comment", "", gh.CommentPayload(repo, 1, helpID)).Request(b.URL + "/webhooks/github")
		}, 400, 0},
		{"over 25 MB", func() *http.Request {
			return signed("push", "a8", bytes.Repeat([]byte(" "), 25<<20+1)).Request(b.URL + "/webhooks/github")
		}, 413, 0},
		{"over 25 MB without a length", func() *http.Request {
			req := signed("push", "a9", nil).Request(b.URL + "/webhooks/github")
			req.Body = io.NopCloser(io.LimitReader(zeros{}, 30<<20))
			req.ContentLength = -1
			return req
		}, 411, 0},
		{"ping", func() *http.Request {
			return signed("ping", "a10", []byte(`{"zen":"Design for failure.","hook_id":1}`)).Request(b.URL + "/webhooks/github")
		}, 200, 0},
		{"star", func() *http.Request {
			return signed("star", "a11", []byte(`{"action":"created"}`)).Request(b.URL + "/webhooks/github")
		}, 200, 0},
		{"comment that is not a command", func() *http.Request {
			return signed("issue_comment", "a12", gh.CommentPayload(repo, 1, chatID)).Request(b.URL + "/webhooks/github")
		}, 200, 0},
		// labeled and unlabeled are queued (the skip label); an assignee
		// changes nothing.
		{"pull request assigned", func() *http.Request {
			return signed("pull_request", "a13", gh.PullRequestPayload(repo, 1, "assigned", 0)).Request(b.URL + "/webhooks/github")
		}, 200, 0},
		{"pull request opened", func() *http.Request {
			return signed("pull_request", "a14", gh.PullRequestPayload(repo, 1, "opened", 0)).Request(b.URL + "/webhooks/github")
		}, 202, 1},
		{"command", func() *http.Request {
			return signed("issue_comment", "a15", gh.CommentPayload(repo, 1, helpID)).Request(b.URL + "/webhooks/github")
		}, 202, 2},
		{"same delivery again", func() *http.Request {
			return signed("issue_comment", "a15", gh.CommentPayload(repo, 1, helpID)).Request(b.URL + "/webhooks/github")
		}, 200, 2},
		{"GET", func() *http.Request {
			req, _ := http.NewRequest(http.MethodGet, b.URL+"/webhooks/github", nil)
			return req
		}, 405, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.DefaultClient.Do(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d (%s), want %d", resp.StatusCode, body, tt.status)
			}
			if got := metric(t, b, "stagebot_jobs_queued_total"); got != tt.queued {
				t.Fatalf("jobs queued = %v, want %v", got, tt.queued)
			}
		})
	}
	// The one command was answered once, although delivered twice.
	eventually(t, 10*time.Second, "the /help reply", func() bool { return len(gh.BotComments(repo, 1)) == 1 })
	time.Sleep(300 * time.Millisecond)
	if got := gh.BotComments(repo, 1); len(got) != 1 || !strings.Contains(got[0].Body, "/apply [stage...]") {
		t.Fatalf("bot comments = %+v, want one /help reply", got)
	}
	if got := metric(t, b, `stagebot_webhook_rejected_total{reason="signature"}`); got != 3 {
		t.Errorf("signature rejections = %v, want 3", got)
	}
	if got := metric(t, b, `stagebot_webhook_rejected_total{reason="length_required"}`); got != 1 {
		t.Errorf("length-required rejections = %v, want 1", got)
	}
	if strings.Contains(b.Logs(), testSecret) {
		t.Errorf("the webhook secret appears in the logs")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// TestCrashRecovery delivers N commands, kills the bot with SIGKILL while
// their jobs are cut off (GitHub has taken some replies whose answers the
// bot never saw), restarts it, and checks every command is answered exactly
// once.
func TestCrashRecovery(t *testing.T) {
	const n = 20
	gh, repo := fixture(t)
	data := t.TempDir()
	env := botEnv(gh, data)
	hit, release := gh.Stall("POST", "/issues/1/comments")
	b := startBot(t, env)

	ids := make([]int64, n)
	for i := range ids {
		ids[i] = gh.AddComment(repo, 1, "alice", "/help")
		status, body := b.deliver(t, githubtest.Delivery{Event: "issue_comment", ID: fmt.Sprintf("crash-%d", i), Body: gh.CommentPayload(repo, 1, ids[i]), Secret: testSecret})
		if status != http.StatusAccepted {
			t.Fatalf("delivery %d: status %d (%s), want 202", i, status, body)
		}
	}
	select {
	case <-hit:
	case <-time.After(20 * time.Second):
		t.Fatal("no job reached GitHub")
	}
	b.kill9()
	release()
	before := len(gh.BotComments(repo, 1))
	if before >= n {
		t.Fatalf("%d replies before the crash: the jobs ran before the kill, the test proves nothing", before)
	}
	if before == 0 {
		t.Fatal("no reply reached GitHub before the crash: the re-run's lookup is not exercised")
	}
	t.Logf("%d replies were taken by GitHub but not seen by the killed bot", before)

	b2 := startBot(t, env)
	eventually(t, 60*time.Second, "a reply to every command", func() bool { return len(gh.BotComments(repo, 1)) >= n })
	time.Sleep(500 * time.Millisecond) // let any duplicate show itself
	replies := map[int64]int{}
	for _, c := range gh.BotComments(repo, 1) {
		for _, id := range ids {
			if strings.Contains(c.Body, fmt.Sprintf("stagebot:reply-to=%d ", id)) {
				replies[id]++
			}
		}
	}
	for _, id := range ids {
		if replies[id] != 1 {
			t.Errorf("comment %d has %d replies, want 1", id, replies[id])
		}
	}
	if got := len(gh.BotComments(repo, 1)); got != n {
		t.Errorf("bot posted %d comments, want %d", got, n)
	}
	if !strings.Contains(b2.Logs(), "interrupted by the previous stop") {
		t.Errorf("restart did not report the interrupted jobs:\n%s", b2.Logs())
	}
	b2.stop()
	if code := b2.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
}

func TestSecondBotOnSameDataDirRefused(t *testing.T) {
	gh, _ := fixture(t)
	data := t.TempDir()
	startBot(t, botEnv(gh, data))
	cmd := exec.Command(botBin, "serve")
	cmd.Env = botEnv(gh, data)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "in use by another stagebot") {
		t.Fatalf("second bot: err=%v, output:\n%s", err, out)
	}
}

// Deliveries of a repository outside STAGEBOT_REPO_ALLOWLIST are answered
// 200 and dropped, counted; those of an allowed one are queued.
func TestRepoAllowlist(t *testing.T) {
	gh := githubtest.New(t)
	other := gh.AddRepo("someone", "sideproject")
	ours := gh.AddRepo("acme", "platform")
	for _, r := range []*githubtest.Repo{other, ours} {
		gh.AddPull(r, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc", BaseSHA: "def"})
	}
	b := startBot(t, append(botEnv(gh, t.TempDir()), "STAGEBOT_REPO_ALLOWLIST=acme/*,example/one"))
	for i, tt := range []struct {
		repo   *githubtest.Repo
		status int
		body   string
	}{{other, 200, "not served"}, {ours, 202, "queued"}} {
		status, body := b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: fmt.Sprint("allow-", i), Body: gh.PullRequestPayload(tt.repo, 1, "opened", 0), Secret: testSecret})
		if status != tt.status || !strings.Contains(body, tt.body) {
			t.Errorf("%s: %d %s, want %d %q", tt.repo.FullName(), status, body, tt.status, tt.body)
		}
	}
	if got := metric(t, b, `stagebot_webhook_deliveries_total{event="pull_request",outcome="not_allowed"}`); got != 1 {
		t.Errorf("not_allowed deliveries = %v, want 1", got)
	}
	if got := metric(t, b, "stagebot_jobs_queued_total"); got != 1 {
		t.Errorf("jobs queued = %v, want 1", got)
	}
	// A malformed allowlist stops the bot at start, naming the setting.
	out, err := exec.Command(botBin, append([]string{"serve"}, "-repo-allowlist", "noslash")...).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "STAGEBOT_REPO_ALLOWLIST") {
		t.Errorf("a bad allowlist: %v %s", err, out)
	}
}
