package main

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/github/webhook"
)

// A signed body replayed under a new delivery id is answered 200 and not
// worked, by the bot that took it or by another replica sharing its
// database; GitHub's redelivery (the same id) stays the duplicate it was.
func TestReplayRefused(t *testing.T) {
	tests := []struct {
		name string
		bots func(t *testing.T, gh *githubtest.Server) []*bot
	}{
		{"sqlite", func(t *testing.T, gh *githubtest.Server) []*bot {
			return []*bot{startBot(t, botEnv(gh, t.TempDir()))}
		}},
		{"postgres replicas", func(t *testing.T, gh *githubtest.Server) []*bot {
			db := dbtest.FreshPostgres(t)
			raw := make([]byte, 32)
			rand.Read(raw)
			key := base64.StdEncoding.EncodeToString(raw)
			return []*bot{startBot(t, replicaEnv(gh, t.TempDir(), db, key)), startBot(t, replicaEnv(gh, t.TempDir(), db, key))}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gh, repo := fixture(t)
			bots := tt.bots(t, gh)
			first, last := bots[0], bots[len(bots)-1]
			help := gh.CommentPayload(repo, 1, gh.AddComment(repo, 1, "alice", "/help"))
			again := gh.CommentPayload(repo, 1, gh.AddComment(repo, 1, "alice", "/help"))
			steps := []struct {
				name   string
				to     *bot
				id     string
				body   []byte
				status int
				answer string
			}{
				{"delivered", first, "r-1", help, http.StatusAccepted, "queued"},
				{"replayed under a new id", last, "r-2", help, http.StatusOK, "already accepted"},
				{"redelivered by GitHub", last, "r-1", help, http.StatusOK, "duplicate delivery"},
				{"another command", last, "r-3", again, http.StatusAccepted, "queued"},
			}
			for _, s := range steps {
				status, body := s.to.deliver(t, githubtest.Delivery{Event: "issue_comment", ID: s.id, Body: s.body, Secret: testSecret})
				if status != s.status || !strings.Contains(body, s.answer) {
					t.Fatalf("%s: %d %s, want %d %q", s.name, status, body, s.status, s.answer)
				}
			}
			eventually(t, 10*time.Second, "two /help replies", func() bool { return len(gh.BotComments(repo, 1)) == 2 })
			time.Sleep(300 * time.Millisecond) // let a third show itself
			if got := len(gh.BotComments(repo, 1)); got != 2 {
				t.Errorf("%d replies, want 2: one per command", got)
			}
			if got := metric(t, last, "stagebot_webhook_replays_total"); got != 1 {
				t.Errorf("replays counted = %v, want 1", got)
			}
			var refused []string
			for _, line := range strings.Split(last.Logs(), "\n") {
				if strings.Contains(line, "webhook replay refused") {
					refused = append(refused, line)
				}
			}
			sig := strings.TrimPrefix(webhook.Sign([]byte(testSecret), help), "sha256=")
			if len(refused) != 1 || !strings.Contains(refused[0], `"delivery":"r-2"`) || strings.Contains(refused[0], sig) || strings.Contains(refused[0], "/help") {
				t.Errorf("log lines of refused replays = %q, want one naming r-2, without signature or body", refused)
			}
		})
	}
}
