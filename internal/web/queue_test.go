package web

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/store"
)

// queueBundle is a dashboard whose store knows no repository (as on a
// fresh install), in front of a River UI that counts what reaches it, with
// the App's repositories listed by the test.
type queueBundle struct {
	h    *Handler
	keys *seal.Keyring
	// list is what listing the App's repositories answers; listed counts
	// the listings.
	list   func() ([]string, error)
	listed int
	// served counts the requests River UI got.
	served int
}

// queueRoles are the users' roles: acme/platform and globex/infra are the
// App's repositories, in two installations.
var queueRoles = map[string]map[string]string{
	"rita":    {"acme/platform": "read", "globex/infra": "read"},
	"alice":   {"acme/platform": "write", "globex/infra": "write"},
	"mona":    {"acme/platform": "maintain", "globex/infra": "admin"},
	"paula":   {"acme/platform": "maintain"},
	"mallory": {},
}

func setupQueue(t *testing.T) *queueBundle {
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	// GitHub answers GET /repos/OWNER/NAME with the user's permissions, or
	// 404 to one with no role.
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ghu_")
		rank := map[string]int{"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}[queueRoles[user][strings.TrimPrefix(r.URL.Path, "/repos/")]]
		if rank == 0 {
			http.NotFound(w, r)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"permissions": map[string]bool{"pull": true, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}})
	}))
	t.Cleanup(gh.Close)
	b := &queueBundle{list: func() ([]string, error) { return []string{"acme/platform", "globex/infra"}, nil }}
	b.keys, _ = seal.Parse(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	b.h, err = New(Config{Store: st, PublicURL: "https://bot.example.com", GitHubAPIURL: gh.URL + "/", GitHubWebURL: gh.URL + "/", ClientID: "id", ClientSecret: "secret",
		SessionKeys: b.keys, Redact: func(_, s string) string { return s }, Release: func(context.Context, string, string, string) (string, error) { return "", nil },
		Queue: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { b.served++ }),
		QueueRepos: func(context.Context) ([]string, error) {
			b.listed++
			return b.list()
		}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// do sends a request of user's session and returns its status and body.
func (b *queueBundle) do(user, method, path string) (int, string) {
	plain, _ := json.Marshal(session{Login: user, Token: "ghu_" + user, CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()})
	blob, _ := b.keys.Seal(plain, sealContext)
	req := httptest.NewRequest(method, path, strings.NewReader(`{"ids":["1"]}`))
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString(blob)})
	rec := httptest.NewRecorder()
	b.h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// Reading River UI takes read on every repository the App is installed
// on, though the store knows none of them; changing the queue takes
// maintain on every one.
func TestQueueNeedsEveryInstalledRepository(t *testing.T) {
	b := setupQueue(t)
	tests := []struct {
		user, method, path string
		want               int
	}{
		{"mallory", "GET", "/queue/", 404},
		{"mallory", "GET", "/queue/api/jobs?state=completed", 404},
		{"mallory", "POST", "/queue/api/jobs/retry", 404},
		{"paula", "GET", "/queue/api/jobs", 404}, // maintains one of the two
		{"rita", "GET", "/queue/", 200},
		{"rita", "GET", "/queue/api/jobs", 200},
		{"rita", "POST", "/queue/api/jobs/retry", 403},
		{"alice", "POST", "/queue/api/jobs/retry", 403},
		{"alice", "PUT", "/queue/api/queues/default/pause", 403},
		{"mona", "POST", "/queue/api/jobs/retry", 200},
		{"mona", "PUT", "/queue/api/queues/default/pause", 200},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.method+" "+tt.path, func(t *testing.T) {
			before := b.served
			status, body := b.do(tt.user, tt.method, tt.path)
			if status != tt.want {
				t.Fatalf("status %d, want %d: %s", status, tt.want, body)
			}
			if reached := b.served > before; reached != (tt.want == 200) {
				t.Errorf("River UI reached: %v", reached)
			}
		})
	}
	if b.listed != 1 {
		t.Errorf("the App's repositories were listed %d times for %d requests in a minute, want once", b.listed, len(tests))
	}
}

// Without GitHub's list of the App's repositories, or with an empty one,
// nobody gets River UI: 403, saying why.
func TestQueueRefusedWithoutTheRepositories(t *testing.T) {
	tests := map[string]func() ([]string, error){
		"GitHub fails": func() ([]string, error) {
			return nil, errors.New("list the App's installations: GitHub answered 502: Server Error")
		},
		"none listed": func() ([]string, error) { return nil, nil },
	}
	for name, list := range tests {
		t.Run(name, func(t *testing.T) {
			b := setupQueue(t)
			b.list = list
			for _, user := range []string{"mona", "mallory"} {
				for _, path := range []string{"/queue/", "/queue/api/jobs"} {
					if status, body := b.do(user, "GET", path); status != 403 || !strings.Contains(body, "GitHub&#39;s list of those repositories could not be had") {
						t.Errorf("%s, %s: %d %s", user, path, status, body)
					}
				}
			}
			if b.served != 0 {
				t.Errorf("River UI served %d requests", b.served)
			}
			if b.listed != 4 {
				t.Errorf("listed %d times for 4 requests: a failed listing must not be kept", b.listed)
			}
		})
	}
}

// A kept list ends with its minute, and a failed listing after it is not
// answered from it.
func TestQueueListDoesNotOutliveAFailure(t *testing.T) {
	b := setupQueue(t)
	if status, _ := b.do("rita", "GET", "/queue/"); status != 200 {
		t.Fatalf("rita: %d", status)
	}
	b.h.queued.exp = time.Now().Add(-time.Second) // a minute later
	b.list = func() ([]string, error) { return nil, errors.New("GitHub could not be reached") }
	if status, _ := b.do("rita", "GET", "/queue/"); status != 403 {
		t.Errorf("rita, GitHub failing: %d", status)
	}
	if b.h.queued.repos != nil {
		t.Error("the list before the failure is still kept")
	}
	b.list = func() ([]string, error) { return []string{"acme/platform", "globex/infra", "initech/secret"}, nil }
	if status, _ := b.do("rita", "GET", "/queue/"); status != 404 {
		t.Errorf("rita, with a repository she cannot read installed since: %d", status)
	}
	if b.listed != 3 || b.served != 1 {
		t.Errorf("listed %d times, served %d", b.listed, b.served)
	}
}

// River UI's page loads its assets at once: the requests wait for one
// listing rather than each ask GitHub.
func TestQueueListedOnceForConcurrentRequests(t *testing.T) {
	listed := 0
	l := newRepoList(func(context.Context) ([]string, error) {
		listed++ // one listing at a time
		time.Sleep(50 * time.Millisecond)
		return []string{"acme/platform"}, nil
	}, time.Minute)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if repos, err := l.get(context.Background()); err != nil || len(repos) != 1 {
				t.Errorf("get = %v, %v", repos, err)
			}
		})
	}
	wg.Wait()
	if listed != 1 {
		t.Errorf("listed %d times for 20 requests at once", listed)
	}
}

// River UI without the list of repositories it is guarded by is a
// configuration error, found at start.
func TestNewRequiresQueueRepos(t *testing.T) {
	keys, _ := seal.Parse(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	_, err := New(Config{Store: &store.Store{}, PublicURL: "https://bot.example.com", ClientID: "id", ClientSecret: "secret", SessionKeys: keys,
		Redact: func(_, s string) string { return s }, Release: func(context.Context, string, string, string) (string, error) { return "", nil },
		Queue: http.NotFoundHandler()})
	if err == nil || !strings.Contains(err.Error(), "River UI") {
		t.Fatalf("New = %v", err)
	}
}
