package github_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// The client keeps the quota GitHub's answers report, as the fake reports
// it per installation.
func TestClientKeepsTheRateLimit(t *testing.T) {
	fake, _, c, r := setup(t)
	ctx := context.Background()
	if _, ok := c.RateLimit(); ok {
		t.Error("a rate limit before any answer")
	}
	if _, err := c.Comments(ctx, r, 1); err == nil {
		t.Fatal("comments of a PR that does not exist")
	}
	got, ok := c.RateLimit()
	left := fake.RateRemaining(githubtest.InstallationID)
	if !ok || got.Limit != githubtest.RateLimit || got.Remaining != left || left >= githubtest.RateLimit || time.Until(got.Reset) < 59*time.Minute {
		t.Errorf("after one call: %+v, %v; the fake has %d left", got, ok, left)
	}

	// A busy installation: two calls left in a window that ends in half
	// an hour (set before the client saw any window, as GitHub's windows
	// never end earlier than they said).
	fake, _, c, r = setup(t)
	reset := time.Now().Add(30 * time.Minute)
	fake.SetRateRemaining(githubtest.InstallationID, 2, reset)
	c.FileContent(ctx, r, "stagebot.yaml", "main")
	if got, _ := c.RateLimit(); got.Remaining != 1 || !got.Reset.Equal(reset.Truncate(time.Second)) {
		t.Errorf("after SetRateRemaining(2) and a call: %+v", got)
	}
	c.FileContent(ctx, r, "stagebot.yaml", "main")
	if got, _ := c.RateLimit(); got.Remaining != 0 {
		t.Errorf("a spent quota: %+v", got)
	}
	// go-github, having seen the quota spent, does not ask any more.
	if _, err := c.FileContent(ctx, r, "stagebot.yaml", "main"); err == nil || gh.IsNotFound(err) {
		t.Errorf("a call past the quota: %v", err)
	}
}

// After GitHub's secondary limit says to wait (Retry-After longer than the
// client waits itself), the installation's next calls are held back
// before they reach GitHub, not sent to be refused again; so are those
// after an answer that spent the primary quota.
func TestCallsHeldBeforeGitHubRefusesThem(t *testing.T) {
	fake, _, c, r := setup(t)
	ctx := context.Background()
	limit := githubtest.SecondaryRateLimit
	limit.RetryAfter = 3600
	fake.FailNext("GET", "/contents/", 1, limit)
	if _, err := c.FileContent(ctx, r, "stagebot.yaml", "main"); err == nil {
		t.Fatal("a call GitHub refused succeeded")
	}
	sent := len(fake.Requests())
	if _, err := c.Comments(ctx, r, 1); err == nil || !strings.Contains(err.Error(), "secondary rate limit") {
		t.Errorf("a call within the secondary limit's wait: %v", err)
	}
	if n := len(fake.Requests()); n != sent {
		t.Errorf("%d calls reached GitHub within the secondary limit's wait", n-sent)
	}

	fake, _, c, r = setup(t)
	fake.SetRateRemaining(githubtest.InstallationID, 1, time.Now().Add(30*time.Minute))
	c.FileContent(ctx, r, "stagebot.yaml", "main") // spends the last call
	sent = len(fake.Requests())
	if _, err := c.FileContent(ctx, r, "stagebot.yaml", "main"); err == nil {
		t.Error("a call past the quota succeeded")
	}
	if n := len(fake.Requests()); n != sent {
		t.Errorf("%d calls past the quota reached GitHub", n-sent)
	}
}

// A GET of what the client read before is conditional: GitHub answers 304,
// which costs no quota, and the client hands on what it kept; once the
// content changed, GitHub's new answer is what the client returns.
func TestConditionalReadsCostNoQuota(t *testing.T) {
	fake, repo, c, r := setup(t)
	ctx := context.Background()
	fake.Commit(repo, "main", "", map[string]string{"stagebot.yaml": "version: 1\n"}, "one")
	first, err := c.FileContent(ctx, r, "stagebot.yaml", "main")
	if err != nil {
		t.Fatal(err)
	}
	left := fake.RateRemaining(githubtest.InstallationID)
	again, err := c.FileContent(ctx, r, "stagebot.yaml", "main")
	if err != nil || string(again) != string(first) {
		t.Fatalf("the second read: %q, %v; the first: %q", again, err, first)
	}
	reqs := fake.Requests()
	if last := reqs[len(reqs)-1]; last.Status != http.StatusNotModified {
		t.Errorf("the second read was answered %d, not 304", last.Status)
	}
	if now := fake.RateRemaining(githubtest.InstallationID); now != left {
		t.Errorf("a 304 cost quota: %d left, then %d", left, now)
	}
	if rate, _ := c.RateLimit(); rate.Remaining != left {
		t.Errorf("the client's quota after a 304: %d, GitHub's %d", rate.Remaining, left)
	}

	fake.Commit(repo, "main", "main", map[string]string{"stagebot.yaml": "version: 1\n# changed\n"}, "two")
	changed, err := c.FileContent(ctx, r, "stagebot.yaml", "main")
	if err != nil || !strings.Contains(string(changed), "# changed") {
		t.Errorf("a read after a change: %q, %v", changed, err)
	}
}
