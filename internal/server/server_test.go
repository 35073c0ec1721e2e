package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

const secret = "s3cret"

// memQueue is an in-memory queue that, like the real one, keeps one job per
// delivery.
type memQueue struct {
	mu   sync.Mutex
	jobs map[string]jobs.Job
	down bool
}

func (m *memQueue) Enqueue(_ context.Context, job jobs.Job) (int64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return 0, false, errors.New("database is down")
	}
	key := job.Kind() + "/" + job.Delivery()
	if _, dup := m.jobs[key]; dup {
		return 0, true, nil
	}
	m.jobs[key] = job
	return int64(len(m.jobs)), false, nil
}

func (m *memQueue) Ping(context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.down {
		return errors.New("database is down")
	}
	return nil
}

func (m *memQueue) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.jobs)
}

func newTestServer(t testing.TB, q Queue) *Server {
	t.Helper()
	s, err := New(Config{WebhookSecret: []byte(secret), Queue: q, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestProbes(t *testing.T) {
	q := &memQueue{jobs: map[string]jobs.Job{}}
	s := newTestServer(t, q)
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200, "/nope": 404} {
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("GET %s = %d, want %d", path, rec.Code, want)
		}
	}
	q.down = true // the database is gone
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("readyz with the database down = %d, want 503", rec.Code)
	}
	// A delivery that cannot be stored is refused with 503, so GitHub's
	// delivery log shows it failed and it can be redelivered.
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, request("pull_request", "x", []byte(prOpened), true))
	if rec.Code != http.StatusServiceUnavailable || q.count() != 0 {
		t.Errorf("delivery with the database down = %d (%d queued), want 503", rec.Code, q.count())
	}
}

const (
	prOpened = `{"action":"opened","number":1,"pull_request":{"number":1,"user":{"login":"alice"},` +
		`"head":{"ref":"change","sha":"abc","repo":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"}}},` +
		`"base":{"ref":"main","sha":"def","repo":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"}}}},` +
		`"repository":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"},"default_branch":"main"},` +
		`"installation":{"id":1},"sender":{"login":"alice"}}`
	commentCreated = `{"action":"created","issue":{"number":1,"pull_request":{"url":"x"}},` +
		`"comment":{"id":5,"body":"/apply platform\nplease","user":{"login":"alice","type":"User"}},` +
		`"repository":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"}},"installation":{"id":1}}`
	pushMain   = `{"ref":"refs/heads/main","before":"a","after":"b","installation":{"id":1},"repository":{"name":"p","owner":{"login":"o"},"default_branch":"main"}}`
	checkRerun = `{"action":"rerequested","check_run":{"id":1,"name":"stagebot/x","head_sha":"abc"},"installation":{"id":1},"repository":{"name":"p","owner":{"login":"o"}}}`
)

// request is a delivery as GitHub sends it, signed or not.
func request(event, delivery string, body []byte, sign bool) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "http://bot/webhooks/github", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", delivery)
	if sign {
		req.Header.Set("X-Hub-Signature-256", webhook.Sign([]byte(secret), body))
	}
	return req
}

// FuzzWebhook sends arbitrary bodies, headers and signatures: the handler
// never panics, and nothing is queued unless the signature is valid.
func FuzzWebhook(f *testing.F) {
	f.Add([]byte(prOpened), "pull_request", "d1", "application/json", uint8(1))
	f.Add([]byte(commentCreated), "issue_comment", "d2", "application/json", uint8(1))
	f.Add([]byte(commentCreated), "issue_comment", "d3", "application/json", uint8(0))
	f.Add([]byte(pushMain), "push", "d4", "application/json; charset=utf-8", uint8(1))
	f.Add([]byte(checkRerun), "check_run", "d5", "application/json", uint8(1))
	f.Add([]byte(`not json`), "ping", "d6", "text/plain", uint8(2))
	// memQueue keeps the queue's contract (one job per delivery) without
	// SQLite, whose transpiled C would slow the instrumented fuzzer down a
	// thousandfold. The real queue is covered by the binary's tests.
	cq := &memQueue{jobs: map[string]jobs.Job{}}
	s := newTestServer(f, cq)
	f.Fuzz(func(t *testing.T, body []byte, event, delivery, contentType string, sigMode uint8) {
		req := request(event, delivery, body, sigMode%3 == 1)
		req.Header.Set("Content-Type", contentType)
		if sigMode%3 == 2 {
			req.Header.Set("X-Hub-Signature-256", string(body))
		}
		before := cq.count()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		queued := cq.count() - before
		if sigMode%3 != 1 {
			if rec.Code != http.StatusUnauthorized || queued != 0 {
				t.Fatalf("unsigned: status %d, queued %d", rec.Code, queued)
			}
			return
		}
		switch rec.Code {
		case http.StatusAccepted:
			if queued != 1 {
				t.Fatalf("202 but %d queued", queued)
			}
		case http.StatusOK, http.StatusBadRequest:
			if queued != 0 {
				t.Fatalf("%d but %d queued", rec.Code, queued)
			}
		default:
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	})
}
