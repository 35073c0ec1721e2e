package server

import (
	"database/sql"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/store"
)

// replayBundle is a server whose signatures are kept in a real SQLite
// database, as the bot keeps them next to its queue.
type replayBundle struct {
	srv   *Server
	queue *memQueue
	db    *sql.DB
}

func setupReplays(t *testing.T) replayBundle {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	q := &memQueue{jobs: map[string]jobs.Job{}}
	s, err := New(Config{WebhookSecret: []byte(secret), Queue: q, Replays: store.NewReplays(db), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return replayBundle{srv: s, queue: q, db: db}
}

func TestReplays(t *testing.T) {
	b := setupReplays(t)
	other := strings.Replace(prOpened, `"opened"`, `"reopened"`, 1)
	upper := func(r *http.Request) {
		r.Header.Set("X-Hub-Signature-256", "sha256="+strings.ToUpper(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256=")))
	}
	tests := []struct {
		name     string
		delivery string
		body     string
		edit     func(*http.Request)
		down     bool // the queue's database fails the insert
		status   int
		queued   int     // jobs in the queue after the request
		replays  float64 // stagebot_webhook_replays_total after it
	}{
		{"first delivery", "d1", prOpened, nil, false, http.StatusAccepted, 1, 0},
		{"the same body under a new id", "d2", prOpened, nil, false, http.StatusOK, 1, 1},
		{"GitHub's redelivery keeps its id", "d1", prOpened, nil, false, http.StatusOK, 1, 1},
		{"another body", "d3", other, nil, false, http.StatusAccepted, 2, 1},
		{"the signature in upper case", "d4", prOpened, upper, false, http.StatusOK, 2, 2},
		{"a new body the queue fails to store", "d5", commentCreated, nil, true, http.StatusServiceUnavailable, 2, 2},
		{"its redelivery once the queue is back", "d5", commentCreated, nil, false, http.StatusAccepted, 3, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b.queue.mu.Lock()
			b.queue.down = tt.down
			b.queue.mu.Unlock()
			event := "pull_request"
			if tt.body == commentCreated {
				event = "issue_comment"
			}
			req := request(event, tt.delivery, []byte(tt.body), true)
			if tt.edit != nil {
				tt.edit(req)
			}
			rec := httptest.NewRecorder()
			b.srv.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Errorf("status = %d (%s), want %d", rec.Code, rec.Body, tt.status)
			}
			if got := b.queue.count(); got != tt.queued {
				t.Errorf("jobs queued = %d, want %d", got, tt.queued)
			}
			if got := replaysCounted(t, b.srv); got != tt.replays {
				t.Errorf("replays counted = %v, want %v", got, tt.replays)
			}
		})
	}
}

// replaysCounted reads stagebot_webhook_replays_total off /metrics.
func replaysCounted(t *testing.T, s *Server) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if v, ok := strings.CutPrefix(line, "stagebot_webhook_replays_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no stagebot_webhook_replays_total in /metrics")
	return 0
}

// When the signatures cannot be read, nothing is queued and GitHub is told
// to redeliver.
func TestReplaysDatabaseDown(t *testing.T) {
	b := setupReplays(t)
	b.db.Close()
	rec := httptest.NewRecorder()
	b.srv.ServeHTTP(rec, request("pull_request", "d1", []byte(prOpened), true))
	if rec.Code != http.StatusServiceUnavailable || b.queue.count() != 0 {
		t.Errorf("status = %d with %d queued, want 503 and none", rec.Code, b.queue.count())
	}
}

func TestSignatureDigest(t *testing.T) {
	mac := strings.Repeat("ab", 32)
	want := signatureDigest("sha256=" + mac)
	if len(want) != 64 || want == mac {
		t.Fatalf("digest %q is not a SHA-256 of the MAC", want)
	}
	tests := []struct {
		name string
		sig  string
		same bool
	}{
		{"the same signature", "sha256=" + mac, true},
		{"in upper case", "sha256=" + strings.ToUpper(mac), true},
		{"another signature", "sha256=" + strings.Repeat("cd", 32), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := signatureDigest(tt.sig) == want; got != tt.same {
				t.Errorf("same digest = %v, want %v", got, tt.same)
			}
		})
	}
}
