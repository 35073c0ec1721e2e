package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/server"
	"github.com/stagebot/stagebot/internal/store"
)

// benchServer is the webhook handler on the real SQLite queue (jobs stored,
// not worked).
func benchServer(b *testing.B) *server.Server {
	q, err := queue.Open(context.Background(), queue.Config{SQLitePath: filepath.Join(b.TempDir(), "stagebot.db"), NoWork: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(q.Close)
	st, err := store.Open(context.Background(), q.DB())
	if err != nil {
		b.Fatal(err)
	}
	s, err := server.New(server.Config{WebhookSecret: []byte(testSecret), Queue: q, Replays: st.Replays(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkWebhookPullRequest measures the webhook path (verify, parse,
// enqueue durably on SQLite) with 100 KB pull_request payloads.
func BenchmarkWebhookPullRequest(b *testing.B) {
	gh := githubtest.New(b)
	repo := gh.AddRepo("acme", "platform")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc", BaseSHA: "def"})
	s := benchServer(b)
	b.SetBytes(100 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A body of its own each time: the same signed body again is a
		// replay, refused.
		b.StopTimer()
		body := gh.PullRequestPayload(repo, 1, "synchronize", 100<<10+i)
		b.StartTimer()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, githubtest.Delivery{Event: "pull_request", ID: fmt.Sprintf("bench-%d", i), Body: body, Secret: testSecret}.Request("http://bot/webhooks/github"))
		if rec.Code != http.StatusAccepted {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

// BenchmarkWebhookIgnoredComment measures a PR comment the bot ignores.
func BenchmarkWebhookIgnoredComment(b *testing.B) {
	gh := githubtest.New(b)
	repo := gh.AddRepo("acme", "platform")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc"})
	body := gh.CommentPayload(repo, 1, gh.AddComment(repo, 1, "alice", "Looks good to me"))
	s := benchServer(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, githubtest.Delivery{Event: "issue_comment", ID: fmt.Sprintf("c-%d", i), Body: body, Secret: testSecret}.Request("http://bot/webhooks/github"))
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d", rec.Code)
		}
	}
}

// BenchmarkWebhookToFirstComment measures, through the real binary, the time
// from a pull_request delivery to the first stage comment on the fake
// GitHub: the infrastructure stage of the quickstart (init, plan, show).
// Compare with BenchmarkByHandInitPlanShow, the same commands on the same
// commit run by hand.
func BenchmarkWebhookToFirstComment(b *testing.B) {
	gh := githubtest.New(b)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(b), "quickstart")
	bot := startBot(b, autoplanEnv(gh, b.TempDir())).URL
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		n := i + 1
		branch := fmt.Sprint("b-", n)
		head := gh.Commit(repo, branch, "main", map[string]string{"terraform/infrastructure/x.tf": fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = %d\n}\n", n)}, branch)
		gh.AddPull(repo, githubtest.Pull{Number: n, Author: "alice", HeadRef: branch, HeadSHA: head, BaseSHA: base})
		body := gh.PullRequestPayload(repo, n, "opened", 0)
		b.StartTimer()
		resp, err := http.DefaultClient.Do(githubtest.Delivery{Event: "pull_request", ID: fmt.Sprint("bench-", n), Body: body, Secret: testSecret}.Request(bot + "/webhooks/github"))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		for len(gh.BotComments(repo, n)) == 0 {
			time.Sleep(2 * time.Millisecond)
		}
	}
}

// BenchmarkByHandInitPlanShow runs terraform init, plan -out and show -json
// on the quickstart's infrastructure stage, as a shell script would.
func BenchmarkByHandInitPlanShow(b *testing.B) {
	files := quickstartFiles(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		dir := b.TempDir()
		writeFiles(b, dir, files)
		os.WriteFile(filepath.Join(dir, "terraform/infrastructure/x.tf"), []byte(fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = %d\n}\n", i)), 0o644)
		b.StartTimer()
		cmd := exec.Command("sh", "-c", "set -e; tf=$1; $tf init -input=false -no-color >/dev/null; $tf plan -input=false -no-color -out=p >/dev/null; $tf show -json p >/dev/null; $tf show -no-color p >/dev/null", "sh", terraformBin())
		cmd.Dir = filepath.Join(dir, "terraform/infrastructure")
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkUnsignedLargeBodies sends 64 unsigned 25 MB deliveries at once to
// the running binary, b.N rounds, and reports the bot's peak RSS (VmHWM):
// what an unauthenticated sender can make the bot hold.
func BenchmarkUnsignedLargeBodies(b *testing.B) {
	gh := githubtest.New(b)
	bot := startBot(b, botEnv(gh, b.TempDir()))
	const senders, size = 64, 25 << 20
	client := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{MaxConnsPerHost: senders, MaxIdleConnsPerHost: senders}}
	badSig := "sha256=" + strings.Repeat("0", 64)
	codes := map[int]int{}
	var mu sync.Mutex
	b.ResetTimer()
	for range b.N {
		var wg sync.WaitGroup
		for range senders {
			wg.Go(func() {
				req, _ := http.NewRequest("POST", bot.URL+"/webhooks/github", io.LimitReader(zeros{}, size)) // streamed: the sender holds none of it
				req.ContentLength = size
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", "pull_request")
				req.Header.Set("X-GitHub-Delivery", "unsigned")
				req.Header.Set("X-Hub-Signature-256", badSig)
				resp, err := client.Do(req)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					codes[0]++
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				codes[resp.StatusCode]++
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	if codes[http.StatusAccepted]+codes[http.StatusOK] > 0 {
		b.Fatalf("an unsigned delivery was taken: %v", codes)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", bot.cmd.Process.Pid))
	if err != nil {
		b.Fatal(err)
	}
	var hwm float64
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			fmt.Sscanf(strings.TrimSpace(rest), "%f", &hwm)
		}
	}
	b.ReportMetric(hwm/1024, "peak-rss-MiB")
	b.ReportMetric(float64(codes[http.StatusUnauthorized]), "401s")
	b.ReportMetric(float64(codes[http.StatusServiceUnavailable]), "503s")
}
