package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// The shared check run is a commit's, sections are a PR's. PR 1's head
// plans three tenants and one fails: stagebot/tenant on that commit is a
// failure. A second PR with the same head commit, whose base differs from
// it only in one tenant's file, plans that tenant alone; the check run
// GitHub shows on the commit stays a failure, the worst of what every PR
// planned there (found by an attacker review: it turned green).
func TestASecondPRWithTheSameHeadKeepsTheSharedCheckRunsFailure(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := t.TempDir(), t.TempDir()
	base := gh.Commit(repo, "main", "", instanceRepo(state, "acme", "globex", "initech"), "three tenants")
	gh.SetPermission(repo, "alice", "write")
	env := append(botEnv(gh, data), "STAGEBOT_INSTANCE_CHECK_RUNS=2")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	// initech's plan fails at head.
	mod := strings.Replace(siteModule("v2"), "variable \"host\" {\n  type = string\n}", "variable \"host\" {\n  type = string\n  validation {\n    condition     = !startswith(var.host, \"initech\")\n    error_message = \"initech is broken\"\n  }\n}", 1)
	// A stack: step1 changes the module, pr-1 builds on it and changes
	// acme's file too.
	step1 := gh.Commit(repo, "step1", "main", map[string]string{"terraform/modules/site/main.tf": mod}, "v2")
	head := gh.Commit(repo, "pr-1", "step1", map[string]string{"terraform/tenants/acme.tfvars": "host = \"new.example.com\"\n"}, "acme")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	eventually(t, 3*time.Minute, "PR 1's shared check run", func() bool {
		c := f.checkRun("stagebot/tenant")
		return c.HeadSHA == head && c.Status == "completed"
	})
	c := f.checkRun("stagebot/tenant")
	t.Logf("after PR 1: %s %q", c.Conclusion, c.Title)
	if c.Conclusion != "failure" {
		t.Fatalf("premise: PR 1's stage check run should fail, got %s", c.Conclusion)
	}

	// PR 2, the stack's top alone: the same head, based on step1.
	gh.AddPull(repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "step1", BaseSHA: step1})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 2, "opened", 0))
	eventually(t, 60*time.Second, "PR 2's plan", func() bool { return len(gh.BotComments(repo, 2)) > 0 })
	c = f.settledCheckRun("stagebot/tenant", func(c githubtest.CheckRun) bool { return c.Status == "completed" && c.Conclusion != "failure" })
	t.Logf("after PR 2: %s %q\n%s", c.Conclusion, c.Title, c.Summary)
	if c.HeadSHA == head && c.Status == "completed" && (c.Conclusion == "success" || c.Conclusion == "neutral") {
		t.Errorf("PR 1's head %s shows stagebot/tenant %s, though initech's plan failed there", head[:7], c.Conclusion)
	}
}
