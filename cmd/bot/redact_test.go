package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// TestUpstreamSensitiveOutputRedactedDownstream: a stage's sensitive
// output, read downstream through terraform_remote_state and put into a
// resource with nonsensitive(), is not shown in the downstream plan, even
// by a bot started after the upstream apply (which reads the upstream's
// outputs before it plans). The apply comment carries its plan.
func TestUpstreamSensitiveOutputRedactedDownstream(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	backend := func(name string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, name+".tfstate"))
	}
	const password = "upstream-Pa55word-do-not-show"
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\napply:\n  requirements: []\n",
		"terraform/infrastructure/main.tf": backend("infrastructure"),
		"terraform/platform/main.tf":       backend("platform"),
	}, "init")
	gh.SetPermission(repo, "alice", "write")
	data := t.TempDir()
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, data))}
	head1 := gh.Commit(repo, "db", "main", map[string]string{"terraform/infrastructure/main.tf": backend("infrastructure") + fmt.Sprintf(
		"resource \"terraform_data\" \"db\" {\n  input = \"db\"\n}\noutput \"db_password\" {\n  value     = %q\n  sensitive = true\n}\n", password)}, "db")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "db", HeadSHA: head1, BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "+1 to add")
	f.say(1, "alice", "/apply infrastructure")
	applied := f.stageComment(1, "infrastructure", "✅ stagebot applied")
	if !strings.Contains(applied, "+1 add") || strings.Contains(applied, "No changes") {
		t.Errorf("the apply comment does not carry its plan's headline:\n%s", applied)
	}
	gh.UpdatePull(repo, 1, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "closed", 0))

	// A new bot knows nothing of the upstream's outputs yet.
	f.bot.stop()
	f.bot = startBot(t, autoplanEnv(gh, data))
	head2 := gh.Commit(repo, "leak", "db", map[string]string{"terraform/platform/main.tf": backend("platform") + fmt.Sprintf(`
data "terraform_remote_state" "infra" {
  backend = "local"
  config = {
    path = %q
  }
}
resource "terraform_data" "leak" {
  input = nonsensitive(data.terraform_remote_state.infra.outputs.db_password)
}
`, filepath.Join(state, "infrastructure.tfstate"))}, "leak")
	gh.AddPull(repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "leak", HeadSHA: head2, BaseSHA: head1})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 2, "opened", 0))
	body := f.stageComment(2, "platform", "+1 to add")
	if strings.Contains(body, password) || !strings.Contains(body, "(redacted)") {
		t.Errorf("the downstream plan shows the upstream's sensitive output:\n%s", body)
	}
	for _, cr := range gh.CheckRuns(repo) {
		if strings.Contains(cr.Summary+cr.Text, password) {
			t.Errorf("check run %s shows it", cr.Name)
		}
	}
	for p, log := range terraformLogs(data) {
		if strings.Contains(log, password) {
			t.Errorf("the Terraform log %s shows it", p)
		}
	}
}
