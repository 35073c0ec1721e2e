package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/server"
)

// benchServer is the webhook handler on the real SQLite queue (jobs stored,
// not worked).
func benchServer(b *testing.B) *server.Server {
	q, err := queue.Open(context.Background(), queue.Config{SQLitePath: filepath.Join(b.TempDir(), "stagebot.db"), NoWork: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(q.Close)
	s, err := server.New(server.Config{WebhookSecret: []byte(testSecret), Queue: q, Logger: slog.New(slog.DiscardHandler)})
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
	body := gh.PullRequestPayload(repo, 1, "synchronize", 100<<10)
	s := benchServer(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
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
