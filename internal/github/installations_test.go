package github_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

func newApp(t *testing.T, fake *githubtest.Server) *gh.App {
	t.Helper()
	app, err := gh.NewApp(gh.AppConfig{
		AppID: githubtest.AppID, PrivateKey: githubtest.AppKey(), APIURL: fake.URL(),
		Retry: gh.RetryPolicy{MinWait: time.Millisecond, MaxWait: 10 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// Every repository of every installation, through both lists' pages: 101
// installations (two pages of them), one of which has 101 repositories
// (two pages of those).
func TestRepositoriesListsEveryInstallationsRepositories(t *testing.T) {
	fake := githubtest.New(t)
	platform := fake.AddRepo("acme", "platform")
	platform.Private = true
	want := []gh.Repo{{Owner: "acme", Name: "platform", DefaultBranch: "main", Private: true}}
	big := fake.AddInstallation()
	for i := range 101 {
		fake.AddRepoIn(big, "big", fmt.Sprintf("r%03d", i))
		want = append(want, gh.Repo{Owner: "big", Name: fmt.Sprintf("r%03d", i), DefaultBranch: "main"})
	}
	for range 99 {
		fake.AddInstallation() // on accounts with no repository selected
	}

	got, err := newApp(t, fake).Repositories(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("repositories (-want +got):\n%s", diff)
	}
	if n := fake.RequestCount("GET", "/app/installations"); n != 2 {
		t.Errorf("pages of installations fetched = %d, want 2", n)
	}
	// One page for each installation, two for the big one.
	if n := fake.RequestCount("GET", "/installation/repositories"); n != 102 {
		t.Errorf("pages of repositories fetched = %d, want 102", n)
	}
}

// GitHub refusing either list is an error that says which, never a
// shorter list.
func TestRepositoriesFailsWhenAListFails(t *testing.T) {
	refused := githubtest.Fault{Status: http.StatusForbidden, Message: "Resource not accessible by integration"}
	for _, path := range []string{"/app/installations", "/installation/repositories"} {
		t.Run(path, func(t *testing.T) {
			fake := githubtest.New(t)
			fake.AddRepo("acme", "platform")
			fake.FailNext("GET", path, 1, refused)
			got, err := newApp(t, fake).Repositories(context.Background())
			var aerr *gh.APIError
			if !errors.As(err, &aerr) || aerr.Status != http.StatusForbidden || got != nil {
				t.Fatalf("Repositories = %v, %v; want GitHub's 403", got, err)
			}
			t.Log(err)
		})
	}
}
