package github_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

func newClient(t *testing.T, fake *githubtest.Server, apiURL string) *gh.Client {
	t.Helper()
	app, err := gh.NewApp(gh.AppConfig{
		AppID: githubtest.AppID, PrivateKey: githubtest.AppKey(), APIURL: apiURL,
		Retry: gh.RetryPolicy{MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return app.Installation(githubtest.InstallationID)
}

func setup(t *testing.T) (*githubtest.Server, *githubtest.Repo, *gh.Client, gh.Repo) {
	fake := githubtest.New(t)
	repo := fake.AddRepo("acme", "platform")
	return fake, repo, newClient(t, fake, fake.URL()), gh.Repo{Owner: "acme", Name: "platform"}
}

func TestChangedFilesPaginatesAndKeepsRenames(t *testing.T) {
	fake, repo, c, r := setup(t)
	var files []githubtest.File
	var want []gh.ChangedFile
	for i := range 250 {
		p := fmt.Sprintf("terraform/f%03d.tf", i)
		files = append(files, githubtest.File{Path: p, Status: "modified"})
		want = append(want, gh.ChangedFile{Path: p, Status: "modified"})
	}
	files = append(files, githubtest.File{Path: "terraform/new/main.tf", PreviousPath: "terraform/old/main.tf"})
	want = append(want, gh.ChangedFile{Path: "terraform/new/main.tf", PreviousPath: "terraform/old/main.tf", Status: "renamed"})
	fake.AddPull(repo, githubtest.Pull{Number: 7, Author: "alice", HeadSHA: "abc", Files: files})

	got, err := c.ChangedFiles(context.Background(), r, 7)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("files (-want +got):\n%s", diff)
	}
	if n := fake.RequestCount("GET", "/pulls/7/files"); n != 3 {
		t.Errorf("pages fetched = %d, want 3 (251 files, 100 a page)", n)
	}
}

func TestPermissionTellsMaintainFromWrite(t *testing.T) {
	fake, repo, c, r := setup(t)
	repo.Private = true
	for _, role := range []string{"admin", "maintain", "write", "triage", "read"} {
		fake.SetPermission(repo, "u-"+role, role)
	}
	tests := map[string]string{"u-admin": "admin", "u-maintain": "maintain", "u-write": "write", "u-triage": "triage", "u-read": "read", "stranger": "none"}
	for user, want := range tests {
		got, err := c.Permission(context.Background(), r, user)
		if err != nil || got != want {
			t.Errorf("Permission(%s) = %q, %v; want %q", user, got, err, want)
		}
	}
}

func TestRetriesServerErrorsAndSecondaryRateLimits(t *testing.T) {
	tests := []struct {
		name     string
		fault    githubtest.Fault
		times    int
		wantErr  string
		wantReqs int
	}{
		{"502 twice then ok", githubtest.ServerError, 2, "", 3},
		{"secondary rate limit then ok", githubtest.SecondaryRateLimit, 1, "", 2},
		{"502 beyond the retry budget", githubtest.ServerError, 10, "GitHub answered 502", 5},
		{"404 is not retried", githubtest.Fault{Status: 404, Message: "Not Found"}, 1, "GitHub answered 404", 1},
		{"422 is not retried", githubtest.Fault{Status: 422, Message: "Validation Failed"}, 1, "GitHub answered 422", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, repo, c, r := setup(t)
			fake.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc"})
			cm, err := c.CreateComment(context.Background(), r, 1, "hello")
			if err != nil {
				t.Fatal(err)
			}
			// An edit may be repeated: it is retried.
			path := fmt.Sprintf("/issues/comments/%d", cm.ID)
			fake.FailNext("PATCH", path, tt.times, tt.fault)
			start := time.Now()
			err = c.EditComment(context.Background(), r, cm.ID, "edited")
			if tt.wantErr == "" && err != nil {
				t.Fatalf("EditComment: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("EditComment error = %v, want %q", err, tt.wantErr)
			}
			if n := fake.RequestCount("PATCH", path); n != tt.wantReqs {
				t.Errorf("requests = %d, want %d", n, tt.wantReqs)
			}
			if tt.fault.RetryAfter > 0 && time.Since(start) < time.Duration(tt.fault.RetryAfter)*time.Second {
				t.Errorf("retried after %s, before Retry-After", time.Since(start))
			}
			want := "hello"
			if tt.wantErr == "" {
				want = "edited"
			}
			if got := fake.BotComments(repo, 1); len(got) != 1 || got[0].Body != want {
				t.Errorf("comments = %+v, want one %q", got, want)
			}
		})
	}
}

func TestUpsertCommentEditsInPlace(t *testing.T) {
	fake, repo, c, r := setup(t)
	fake.AddPull(repo, githubtest.Pull{Number: 3, Author: "alice", HeadSHA: "abc"})
	// More comments than fit a page, and a person quoting the marker.
	for i := range 120 {
		fake.AddComment(repo, 3, "bob", fmt.Sprintf("comment %d", i))
	}
	fake.AddComment(repo, 3, "mallory", "<!-- m1 --> I quoted the marker")
	ctx := context.Background()
	first, err := c.UpsertComment(ctx, r, 3, "<!-- m1 -->", "<!-- m1 --> v1")
	if err != nil {
		t.Fatal(err)
	}
	second, err := c.UpsertComment(ctx, r, 3, "<!-- m1 -->", "<!-- m1 --> v2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.UpsertComment(ctx, r, 3, "<!-- m1 -->", "<!-- m1 --> v2"); err != nil {
		t.Fatal(err)
	}
	bot := fake.BotComments(repo, 3)
	if len(bot) != 1 || bot[0].Body != "<!-- m1 --> v2" || first.ID != second.ID {
		t.Fatalf("bot comments = %+v; want the one comment edited to v2", bot)
	}
	if n := fake.RequestCount("PATCH", "/issues/comments/"); n != 1 {
		t.Errorf("edits = %d, want 1 (an unchanged body is not re-sent)", n)
	}
	if _, err := c.UpsertComment(ctx, r, 3, "<!-- m2 -->", "no marker"); err == nil {
		t.Error("a body without its marker was accepted")
	}
}

func TestCheckRunsWithinGitHubLimits(t *testing.T) {
	fake, repo, c, r := setup(t)
	ctx := context.Background()
	id, err := c.CreateCheckRun(ctx, r, gh.CheckRun{Name: "stagebot/platform", HeadSHA: "abc", Status: "in_progress", Title: "Planning", Summary: "running"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.UpdateCheckRun(ctx, r, id, gh.CheckRun{Name: "stagebot/platform", Conclusion: "success", Title: "+1", Summary: "ok", Text: strings.Repeat("x", 65536)}); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("text over 65,535 characters: err = %v, want GitHub's 422", err)
	}
	if err := c.UpdateCheckRun(ctx, r, id, gh.CheckRun{Name: "stagebot/platform", Conclusion: "success", Title: "+1", Summary: "ok"}); err != nil {
		t.Fatal(err)
	}
	runs := fake.CheckRuns(repo)
	if len(runs) != 1 || runs[0].Status != "completed" || runs[0].Conclusion != "success" || runs[0].Title != "+1" {
		t.Fatalf("check runs = %+v", runs)
	}
	if err := c.UpdateCheckRun(ctx, r, 999999, gh.CheckRun{Name: "x", Status: "in_progress"}); !gh.IsNotFound(err) {
		t.Errorf("unknown check run: err = %v, want 404", err)
	}
}

func TestReactIsIdempotent(t *testing.T) {
	fake, repo, c, r := setup(t)
	fake.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc"})
	id := fake.AddComment(repo, 1, "alice", "/plan")
	for range 2 {
		if err := c.React(context.Background(), r, id, "eyes"); err != nil {
			t.Fatal(err)
		}
	}
	if got := fake.Comments(repo, 1)[0].Reactions; len(got) != 1 || got[0] != "eyes" {
		t.Fatalf("reactions = %v, want [eyes]", got)
	}
}

func TestRepositoryOutsideInstallationIsNotFound(t *testing.T) {
	fake, _, c, _ := setup(t)
	other := fake.AddRepo("acme", "other")
	_ = other
	// A repository that exists nowhere, and one the installation lacks, look
	// the same: 404.
	if _, err := c.PullRequest(context.Background(), gh.Repo{Owner: "acme", Name: "nope"}, 1); !gh.IsNotFound(err) {
		t.Errorf("unknown repo: err = %v, want 404", err)
	}
}

func TestEnterpriseAPIURLPrefix(t *testing.T) {
	fake := githubtest.New(t)
	fake.AddRepo("acme", "platform")
	// GitHub Enterprise serves the API under /api/v3/; the client must
	// keep that prefix on every request, token requests included.
	proxy := http.StripPrefix("/api/v3", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rp := fake.Handler()
		rp.ServeHTTP(w, r)
	}))
	srv := newServer(t, proxy)
	c := newClient(t, fake, srv+"/api/v3")
	if _, err := c.CloneInfo(context.Background(), gh.Repo{Owner: "acme", Name: "platform"}); err != nil {
		t.Fatalf("through /api/v3/: %v", err)
	}
}

func TestCloneWithInstallationToken(t *testing.T) {
	fake, repo, c, r := setup(t)
	sha := fake.Commit(repo, "main", "", map[string]string{"stagebot.yaml": "version: 1\n"}, "init")
	clone, err := c.CloneInfo(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	gitCmd := func(extra ...string) (string, error) {
		args := append([]string{"-c", "credential.helper=", "-c", "core.askPass=true"}, extra...)
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Without the token: refused.
	if out, err := gitCmd("clone", "-q", clone.URL, filepath.Join(dir, "anon")); err == nil {
		t.Fatalf("clone without token succeeded:\n%s", out)
	}
	auth := "http.extraHeader=Authorization: Basic " + basic("x-access-token", clone.Token)
	if out, err := gitCmd("-c", auth, "clone", "-q", clone.URL, filepath.Join(dir, "ok")); err != nil {
		t.Fatalf("clone with token: %v\n%s", err, out)
	}
	out, _ := exec.Command("git", "-C", filepath.Join(dir, "ok"), "rev-parse", "HEAD").Output()
	if strings.TrimSpace(string(out)) != sha {
		t.Errorf("cloned HEAD = %s, want %s", out, sha)
	}
	// An expired token is refused, as GitHub does after an hour.
	fake.ExpireTokens()
	if out, err := gitCmd("-c", auth, "clone", "-q", clone.URL, filepath.Join(dir, "late")); err == nil {
		t.Fatalf("clone with expired token succeeded:\n%s", out)
	}
}

// A create GitHub took but whose answer was lost (a 502 after the write) is
// not done twice: the client looks for what it created before it creates
// again. A create GitHub refused is made again.
func TestCreatesAreNotDoubled(t *testing.T) {
	for _, done := range []bool{true, false} {
		t.Run(fmt.Sprintf("done=%v", done), func(t *testing.T) {
			fake, repo, c, r := setup(t)
			fake.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadSHA: "abc"})
			ctx := context.Background()
			fault := githubtest.ServerError
			fault.Done = done
			fake.FailNext("POST", "/issues/1/comments", 1, fault)
			if _, err := c.UpsertComment(ctx, r, 1, "<!-- m -->", "<!-- m --> body"); err != nil {
				t.Fatal(err)
			}
			if got := fake.BotComments(repo, 1); len(got) != 1 {
				t.Errorf("comments = %d, want 1", len(got))
			}
			fake.FailNext("POST", "/check-runs", 1, fault)
			if _, err := c.CreateCheckRun(ctx, r, gh.CheckRun{Name: "stagebot/x", HeadSHA: "abc", Status: "in_progress"}); err != nil {
				t.Fatal(err)
			}
			if got := fake.CheckRuns(repo); len(got) != 1 {
				t.Errorf("check runs = %d, want 1", len(got))
			}
		})
	}
}

// Another App's check run of the same name on the same commit (a CI that
// also calls its check stagebot/platform) is never found, so never edited:
// GitHub's app_id filter, and the App of what comes back, both say so.
func TestFindCheckRunTakesOnlyThisAppsRuns(t *testing.T) {
	fake, repo, c, r := setup(t)
	ctx := context.Background()
	fake.AddForeignCheckRun(repo, "abc", "stagebot/platform", 4242)
	if id, err := c.FindCheckRun(ctx, r, "abc", "stagebot/platform"); err != nil || id != 0 {
		t.Fatalf("found %d (%v): another App's check run", id, err)
	}
	ours, err := c.CreateCheckRun(ctx, r, gh.CheckRun{Name: "stagebot/platform", HeadSHA: "abc", Status: "in_progress", Title: "Planning", Summary: "running"})
	if err != nil {
		t.Fatal(err)
	}
	fake.AddForeignCheckRun(repo, "abc", "stagebot/platform", 4242) // newer than ours
	if id, err := c.FindCheckRun(ctx, r, "abc", "stagebot/platform"); err != nil || id != ours {
		t.Fatalf("found %d (%v), want ours %d", id, err, ours)
	}
	if fake.RequestCount("GET", "/check-runs") != 2 || !strings.Contains(fake.Requests()[len(fake.Requests())-1].Query, fmt.Sprintf("app_id=%d", githubtest.AppID)) {
		t.Error("the list does not ask for this App's check runs")
	}
	for _, cr := range fake.CheckRuns(repo) {
		if cr.AppID == 4242 && cr.Title != "another App's" {
			t.Errorf("another App's check run was changed: %+v", cr)
		}
	}
}

// CheckRunsOn lists a commit's check runs page by page: this App's only,
// the newest of each name.
func TestCheckRunsOnPaginates(t *testing.T) {
	fake, repo, c, r := setup(t)
	ctx := context.Background()
	want := map[string]int64{}
	for i := range 150 {
		name := fmt.Sprintf("stagebot/tenant:t%03d", i)
		id, err := c.CreateCheckRun(ctx, r, gh.CheckRun{Name: name, HeadSHA: "abc", Status: "in_progress", Title: "Planning", Summary: "running"})
		if err != nil {
			t.Fatal(err)
		}
		want[name] = id
	}
	newer, _ := c.CreateCheckRun(ctx, r, gh.CheckRun{Name: "stagebot/tenant:t000", HeadSHA: "abc", Status: "in_progress", Title: "Planning", Summary: "running"})
	want["stagebot/tenant:t000"] = newer
	fake.AddForeignCheckRun(repo, "abc", "ci/other", 4242)
	got, err := c.CheckRunsOn(ctx, r, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d check runs, want %d", len(got), len(want))
	}
	for name, id := range want {
		if got[name] != id {
			t.Errorf("%s: %d, want %d", name, got[name], id)
		}
	}
	if n := fake.RequestCount("GET", "/check-runs"); n != 2 {
		t.Errorf("%d pages asked for 151 check runs", n)
	}
}
