package web

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/store"
)

// dashboardWith is a dashboard on a SQLite store holding runs runs of PR
// #1 of acme/platform, and a GitHub where every user reads acme/platform.
func dashboardWith(tb testing.TB, runs int) (*Handler, *http.Cookie) {
	db, err := sql.Open("sqlite", filepath.Join(tb.TempDir(), "s.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	st, err := store.Open(context.Background(), db)
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	st.SetRepo(ctx, store.RepoInfo{Repo: "acme/platform", InstallationID: 1, DefaultBranch: "main"}, nil)
	for i := range runs {
		id, err := st.StartRun(ctx, store.Run{Repo: "acme/platform", PR: 1, Stage: fmt.Sprintf("tenant:t%03d", i), Op: "plan", HeadSHA: strings.Repeat("a", 40), Replica: "r1", LogPath: "/nowhere"})
		if err != nil {
			tb.Fatal(err)
		}
		if i%2 == 0 {
			st.FinishRun(ctx, id, i%4 == 0, "Plan: 1 to add <script>")
		}
	}
	gh := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/repos/acme/platform" && r.Header.Get("Authorization") == "Bearer ghu_reader" {
			w.Write([]byte(`{"full_name":"acme/platform"}`))
			return
		}
		http.NotFound(w, r)
	}))
	tb.Cleanup(gh.Close)
	keys, _ := seal.Parse(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	h, err := New(Config{Store: st, PublicURL: "https://bot.example.com", GitHubAPIURL: gh.URL + "/", GitHubWebURL: gh.URL + "/", ClientID: "id", ClientSecret: "secret",
		SessionKeys: keys, Redact: func(_, s string) string { return s }, Release: func(context.Context, string, string, string) (string, error) { return "", nil }, Replica: "r1"})
	if err != nil {
		tb.Fatal(err)
	}
	plain, _ := json.Marshal(session{Login: "alice", Token: "ghu_reader", CSRF: "c", Expires: time.Now().Add(time.Hour).Unix()})
	blob, _ := keys.Seal(plain, sealContext)
	return h, &http.Cookie{Name: sessionCookie, Value: base64.RawURLEncoding.EncodeToString(blob)}
}

// The PR page of 1,000 runs lists every one, escaped.
func TestPullPageLists1000Runs(t *testing.T) {
	h, cookie := dashboardWith(t, 1000)
	req := httptest.NewRequest("GET", "/repos/acme/platform/pulls/1", nil)
	req.AddCookie(cookie)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	body := rec.Body.String()
	if rec.Code != 200 || strings.Count(body, `<a href="/runs/`) != 1000 || strings.Count(body, "running") != 500 {
		t.Fatalf("status %d, %d run links, %d running", rec.Code, strings.Count(body, `<a href="/runs/`), strings.Count(body, "running"))
	}
	if !strings.Contains(body, "tenant:t999") || strings.Contains(body, "<script>") {
		t.Error("a run is missing, or a log is shown unescaped")
	}
}

// BenchmarkPullPage1000Runs renders a PR's page with 1,000 runs (SQLite,
// the user's access to the repository cached as after the first page).
func BenchmarkPullPage1000Runs(b *testing.B) { benchPage(b, "/repos/acme/platform/pulls/1") }

func benchPage(b *testing.B, path string) {
	h, cookie := dashboardWith(b, 1000)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", path, nil)
		req.AddCookie(cookie)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkOverview1000Runs renders the overview of a repository with
// 1,000 runs (it lists the newest 20).
func BenchmarkOverview1000Runs(b *testing.B) { benchPage(b, "/") }
