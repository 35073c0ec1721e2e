package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// bigSiteModule makes each tenant's plan about 170k characters: the stage's
// comment (4 parts, ~236k for sections) holds one such plan, not three.
func bigSiteModule() string {
	return `variable "name" {
  type = string
}
variable "host" {
  type = string
}
resource "terraform_data" "site" {
  input = join("\n", [for i in range(1000) : "${var.name}-payload-line-${i}-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"])
}
`
}

// When a stage's instances share one check run, a plan that does not fit
// in the stage's comment is shown in a check run of its own before
// anything may apply it; the shared check run's Apply button then applies
// every instance, each plan shown somewhere (found by an attacker review:
// such plans were shown nowhere, and applied).
func TestInstancePlansThatDoNotFitGetTheirOwnCheckRun(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := t.TempDir(), t.TempDir()
	tenants := []string{"acme", "globex", "initech"}
	base := gh.Commit(repo, "main", "", instanceRepo(state, tenants...), "three tenants")
	for _, u := range []string{"alice", "dave"} {
		gh.SetPermission(repo, u, "write")
	}
	env := append(botEnv(gh, data), "STAGEBOT_INSTANCE_CHECK_RUNS=2")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/modules/site/main.tf": bigSiteModule()}, "pr-1")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseSHA: base})
	gh.AddReview(repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	eventually(t, 5*time.Minute, "the shared check run", func() bool {
		c := f.checkRun("stagebot/tenant")
		return c.HeadSHA == head && c.Status == "completed"
	})
	if c := f.checkRun("stagebot/tenant"); c.Conclusion != "success" {
		t.Fatalf("the shared check run: %s %q", c.Conclusion, c.Title)
	}
	// Each plan is in the comment, or in its own check run.
	var inComment, inCheck []string
	for _, n := range tenants {
		for _, cm := range gh.BotComments(repo, 1) {
			if strings.Contains(cm.Body, "<code>"+n+"</code>") && strings.Contains(cm.Body, n+"-payload-line-0-") {
				inComment = append(inComment, n)
			}
		}
		if c := f.checkRun("stagebot/tenant:" + n); c.HeadSHA == head && strings.Contains(c.Text, n+"-payload-line-0-") {
			inCheck = append(inCheck, n)
		}
	}
	if len(inComment)+len(inCheck) != len(tenants) || len(inCheck) == 0 {
		t.Fatalf("plans in the comment %v, in their own check runs %v: want each in one, some in check runs", inComment, inCheck)
	}
	f.press(1, "stagebot/tenant", "alice")
	eventually(t, 3*time.Minute, "the applies", func() bool {
		for _, n := range tenants {
			if _, err := os.Stat(filepath.Join(state, "tenant-"+n+".tfstate")); err != nil {
				return false
			}
		}
		return true
	})
}
