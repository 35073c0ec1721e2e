package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// sandboxGID is the group of the bot's sandbox uids (its default).
const sandboxGID = 39999

// probe is an output that reads path from inside the Terraform run, or says
// the run could not.
func probe(name, path string) string {
	return fmt.Sprintf("output %q {\n  value = try(file(%q), \"DENIED\")\n}\n", name, path)
}

// TestHostilePullRequest is a pull request whose Terraform tries to steal:
// the bot's environment through /proc of its parent and of the bot's pid,
// the App key file, the database, another PR's checkout and saved plan, the
// credentials of applies; and a chart whose chained symlinks lead out of
// the repository. From inside the run every read is denied; the chart's
// commit is refused; and no secret reaches a comment, a check run, the
// bot's log or a Terraform log.
func TestHostilePullRequest(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := sandboxtest.ReachableDir(t), sandboxtest.SharedDir(t, sandboxGID)
	keyFile := filepath.Join(data, "app.pem")
	if err := os.WriteFile(keyFile, githubtest.AppKeyPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "hostname")
	os.WriteFile(outside, []byte("outside-the-repo-secret"), 0o644)
	backend := func(name string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, name+".tfstate"))
	}
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n",
		"terraform/infrastructure/main.tf": backend("infrastructure"),
	}, "init")
	gh.SetPermission(repo, "mallory", "write")
	env := append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin(), "STAGEBOT_SANDBOX=uid",
		"STAGEBOT_GITHUB_PRIVATE_KEY=", "STAGEBOT_GITHUB_PRIVATE_KEY_FILE="+keyFile,
		"STAGEBOT_PLAN_ENV=IONOS_TOKEN=READONLY_TOKEN", "READONLY_TOKEN=plan-token-read-only",
		"STAGEBOT_APPLY_ENV=IONOS_TOKEN=ADMIN_TOKEN", "ADMIN_TOKEN=apply-token-admin-do-not-leak")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	// #1, an honest PR, is planned first: its checkout and saved plan exist.
	head1 := gh.Commit(repo, "honest", "main", map[string]string{
		"terraform/infrastructure/main.tf": backend("infrastructure") + "resource \"terraform_data\" \"x\" {\n  input = \"honest\"\n}\n",
	}, "honest")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "honest", HeadSHA: head1, BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "+1 to add")
	otherPlan := filepath.Join(data, "plans", "acme__platform", "pr-1", "infrastructure.tfplan")
	otherCheckout := filepath.Join(data, "workspaces", "acme__platform", "pr-1", head1, "terraform", "infrastructure", "main.tf")
	for _, p := range []string{otherPlan, otherCheckout} {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the honest PR's files are not where the probes look: %v", err)
		}
	}

	// #2 probes from inside its plan.
	hostile := backend("infrastructure") + `
output "probe_parent_environ" {
  value = try(file("/proc/${regex("PPid:\\s+(\\d+)", file("/proc/self/status"))[0]}/environ"), "DENIED")
}
output "own_environ" {
  value = file("/proc/self/environ")
}
` + probe("probe_bot_environ", fmt.Sprintf("/proc/%d/environ", f.bot.cmd.Process.Pid)) +
		probe("probe_key", keyFile) +
		probe("probe_database", filepath.Join(data, "stagebot.db")) +
		probe("probe_other_plan", otherPlan) +
		probe("probe_other_checkout", otherCheckout)
	head2 := gh.Commit(repo, "hostile", "main", map[string]string{"terraform/infrastructure/main.tf": hostile}, "hostile")
	gh.AddPull(repo, githubtest.Pull{Number: 2, Author: "mallory", HeadRef: "hostile", HeadSHA: head2, BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 2, "opened", 0))
	body := f.stageComment(2, "infrastructure", "probe_key")
	for _, name := range []string{"probe_parent_environ", "probe_bot_environ", "probe_key", "probe_database", "probe_other_plan", "probe_other_checkout"} {
		if !deniedIn(body, name) {
			t.Errorf("from inside the plan, %s was not denied:\n%s", name, body)
		}
	}
	if strings.Contains(body, "Not isolated") {
		t.Errorf("a sandboxed plan says it ran unisolated:\n%s", body)
	}
	// The run got the plan credential, which is a credential too: redacted.
	if !strings.Contains(body, "IONOS_TOKEN=(redacted)") {
		t.Errorf("the plan's own environment does not show the plan credential, redacted:\n%s", body)
	}

	// #3's chart leads out of the repository through chained symlinks, each
	// of which looks inside it on its own: a/l -> .. is the root, b/l ->
	// ../a/l/.. is a/l's parent, the root's parent.
	head3 := gh.Commit(repo, "chart", "main", map[string]string{
		"charts/evil/Chart.yaml":        "apiVersion: v2\nname: evil\nversion: 0.1.0\n",
		"charts/evil/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\ndata:\n  stolen: {{ .Files.Get \"out/" + strings.Repeat("../", 12) + strings.TrimPrefix(outside, "/") + "\" | quote }}\n",
		"terraform/infrastructure/y.tf": "resource \"terraform_data\" \"y\" {\n  input = 1\n}\n",
		"a/keep":                        "x",
		"b/keep":                        "x",
		"symlink:a/l":                   "..",
		"symlink:b/l":                   "../a/l/..",
		"symlink:charts/evil/out":       "../../b/l",
	}, "chart")
	gh.AddPull(repo, githubtest.Pull{Number: 3, Author: "mallory", HeadRef: "chart", HeadSHA: head3, BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 3, "opened", 0))
	var refused string
	eventually(t, 60*time.Second, "the refusal of #3", func() bool {
		for _, c := range gh.BotComments(repo, 3) {
			if strings.Contains(c.Body, "leads out of the repository") {
				refused = c.Body
				return true
			}
		}
		return false
	})
	if !strings.Contains(refused, "symlink b/l -> ../a/l/..") {
		t.Errorf("the refusal does not name the link:\n%s", refused)
	}

	// No secret anywhere the bot wrote.
	time.Sleep(time.Second)
	secrets := []string{testSecret, "apply-token-admin-do-not-leak", "plan-token-read-only", "outside-the-repo-secret"}
	for _, line := range strings.Split(string(githubtest.AppKeyPEM()), "\n") {
		if len(line) > 20 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
	var texts []string
	for _, n := range []int{1, 2, 3} {
		for _, c := range gh.Comments(repo, n) {
			texts = append(texts, fmt.Sprintf("comment on #%d", n), c.Body)
		}
	}
	for _, cr := range gh.CheckRuns(repo) {
		texts = append(texts, "check run "+cr.Name, cr.Title+cr.Summary+cr.Text)
	}
	texts = append(texts, "the bot's log", f.bot.Logs())
	for p, log := range terraformLogs(data) {
		texts = append(texts, p, log)
	}
	for i := 0; i < len(texts); i += 2 {
		for _, s := range secrets {
			if strings.Contains(texts[i+1], s) {
				t.Errorf("%s holds a secret (%.12s…)", texts[i], s)
			}
		}
	}
}

// deniedIn finds `name = "DENIED"` in a plan comment, however Terraform
// aligned the equals signs.
func deniedIn(body, name string) bool {
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) >= 4 && f[0] == "+" && f[1] == name && f[2] == "=" && f[3] == `"DENIED"` {
			return true
		}
	}
	return false
}
