package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// instanceRepo is a repository whose tenant stage runs once per file in
// terraform/tenants, each instance with its state in the shared state dir,
// all calling one shared module.
func instanceRepo(state string, tenants ...string) map[string]string {
	files := map[string]string{
		"stagebot.yaml": fmt.Sprintf(`version: 1
stages:
  - name: tenant
    dir: terraform/tenant
    instances: {from: "terraform/tenants/*.tfvars"}
    backend_config: {path: "%s/tenant-${instance}.tfstate"}
apply:
  requirements: [approved]
`, state),
		"terraform/tenant/main.tf": `terraform {
  backend "local" {}
}
variable "instance" {
  type = string
}
variable "host" {
  type = string
}
module "site" {
  source = "../modules/site"
  name   = var.instance
  host   = var.host
}
output "tenant" {
  value = var.instance
}
`,
		"terraform/modules/site/main.tf": siteModule("v1"),
	}
	for _, n := range tenants {
		files["terraform/tenants/"+n+".tfvars"] = fmt.Sprintf("host = %q\n", n+".sites.example.com")
	}
	return files
}

func siteModule(version string) string {
	return fmt.Sprintf(`variable "name" {
  type = string
}
variable "host" {
  type = string
}
resource "terraform_data" "site" {
  input = "wordpress-tenant-${var.name} at ${var.host} (%s)"
}
`, version)
}

// checkNames are the names of the check runs on sha.
func (f *prFlow) checkNames(sha string) []string {
	var out []string
	for _, c := range f.gh.CheckRuns(f.repo) {
		if c.HeadSHA == sha && !slices.Contains(out, c.Name) {
			out = append(out, c.Name)
		}
	}
	slices.Sort(out)
	return out
}

// planLogs counts the Terraform plan logs of a PR, by the stage or instance
// they ran for: one per plan Terraform ran.
func planLogs(data string, pr int) map[string]int {
	out := map[string]int{}
	for p := range terraformLogs(data) {
		if filepath.Base(filepath.Dir(p)) != fmt.Sprint("pr-", pr) || !strings.Contains(filepath.Base(p), "-plan-") {
			continue
		}
		out[strings.SplitN(filepath.Base(p), "-", 2)[0]]++
	}
	return out
}

// A stage with instances, through the binary in the uid sandbox with two
// lanes: a PR that adds one tenant plans that tenant alone, and merging it
// applies that tenant; a PR that changes the shared module plans every
// tenant, shown in one comment with a check run each; /apply tenant:<name>
// applies that instance only and locks it alone, so another PR may apply
// another instance meanwhile; drift is checked and reported per instance.
func TestStageInstances(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := sandboxtest.ReachableDir(t), sandboxtest.SharedDir(t, sandboxGID)
	base := gh.Commit(repo, "main", "", instanceRepo(state, "acme", "globex", "initech"), "three tenants")
	for _, u := range []string{"alice", "dave"} {
		gh.SetPermission(repo, u, "write")
	}
	env := append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin(), "STAGEBOT_SANDBOX=uid", "STAGEBOT_INSTANCE_PARALLELISM=2")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	// #1 adds a tenant: it alone is planned.
	head1 := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/tenants/newco.tfvars": "host = \"newco.sites.example.com\"\n"}, "newco")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head1, BaseRef: "main", BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	body := f.stageComment(1, "tenant", "1 instance(s)")
	if !strings.Contains(body, "| `newco` | 📝 plan at "+head1[:7]+": +1 to add") || strings.Contains(body, "`acme`") {
		t.Errorf("#1's comment is not newco's plan alone:\n%s", body)
	}
	if !strings.Contains(body, "wordpress-tenant-newco at newco.sites.example.com") {
		t.Errorf("newco's plan does not show its var file's values:\n%s", body)
	}
	eventually(t, time.Minute, "#1's apply check run", func() bool { return len(f.checkNames(head1)) > 1 })
	if got := f.checkNames(head1); !slices.Equal(got, []string{"stagebot/apply", "stagebot/tenant:newco"}) {
		t.Errorf("#1's check runs: %v", got)
	}
	if got := planLogs(data, 1); len(got) != 1 || got["tenant_newco"] != 1 {
		t.Errorf("#1 ran plans %v, want newco's alone", got)
	}

	// #2 changes the module every tenant calls: all three are planned, in
	// one comment, each with its own check run.
	head2 := f.open(2, "alice", map[string]string{"terraform/modules/site/main.tf": siteModule("v2")}, 1)
	body = f.stageComment(2, "tenant", "3 instance(s)")
	for _, n := range []string{"acme", "globex", "initech"} {
		if !strings.Contains(body, "| `"+n+"` | 📝 plan at "+head2[:7]+": +1 to add") {
			t.Errorf("#2's comment lacks %s's row:\n%s", n, body)
		}
	}
	// Their plans differ only in the tenant's name: shown once, with the
	// names it stands for.
	if !strings.Contains(body, "wordpress-tenant-acme at acme.sites.example.com (v2)") || !strings.Contains(body, "The plans of 3 instances are this one with each instance's own name in place of `acme`: `acme`, `globex`, `initech`.") {
		t.Errorf("#2's comment does not show the three plans as one:\n%s", body)
	}
	want := []string{"stagebot/apply", "stagebot/tenant:acme", "stagebot/tenant:globex", "stagebot/tenant:initech"}
	eventually(t, time.Minute, "#2's check runs", func() bool { return slices.Equal(f.checkNames(head2), want) })
	// One listing of the commit's check runs, not a search per instance;
	// one reading of the reviews for the three Apply buttons.
	if n := gh.RequestCount("GET", "/commits/"+head2+"/check-runs"); n != 1 {
		t.Errorf("#2's plan listed check runs %d times", n)
	}
	if n := gh.RequestCount("GET", "/pulls/2/reviews"); n != 1 {
		t.Errorf("#2's plan read its reviews %d times", n)
	}
	for _, n := range want[1:] {
		const title = "+1 to add, ~0 to change, -0 to destroy, ±0 to replace"
		if c := f.settledCheckRun(n, func(c githubtest.CheckRun) bool { return c.Status == "completed" }); c.Conclusion != "success" || c.Title != title {
			t.Errorf("%s: %s %q", n, c.Conclusion, c.Title)
		}
	}

	// /apply of one instance applies it alone.
	gh.AddReview(repo, 2, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head2})
	f.say(2, "alice", "/apply tenant:acme")
	body = f.stageComment(2, "tenant", "| `acme` | ✅ applied")
	for _, n := range []string{"globex", "initech"} {
		if !strings.Contains(body, "| `"+n+"` | 📝 plan at") {
			t.Errorf("applying acme changed %s's row:\n%s", n, body)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "tenant-acme.tfstate")); err != nil {
		t.Errorf("acme's state: %v", err)
	}
	for _, n := range []string{"globex", "initech", "newco"} {
		if _, err := os.Stat(filepath.Join(state, "tenant-"+n+".tfstate")); err == nil {
			t.Errorf("%s was applied too", n)
		}
	}
	// Its outputs are its own state's, whichever instance the checkout was
	// last set up for.
	if !strings.Contains(body, "| `tenant` | `\"acme\"` |") {
		t.Errorf("acme's apply does not show its own output:\n%s", body)
	}
	if c := f.settledCheckRun("stagebot/tenant:acme", func(c githubtest.CheckRun) bool { return c.Title == "Applied" }); c.Title != "Applied" {
		t.Errorf("tenant:acme's check run after the apply: %q", c.Title)
	}

	// #3 changes the module too. tenant:acme is #2's until #2 is merged or
	// closed; the other instances are free.
	head3 := f.open(3, "dave", map[string]string{"terraform/modules/site/main.tf": siteModule("v3")}, 1)
	gh.AddReview(repo, 3, githubtest.Review{User: "alice", State: "APPROVED", CommitID: head3})
	f.stageComment(3, "tenant", "3 instance(s)")
	id := f.say(3, "dave", "/apply tenant:acme")
	if r := f.reply(3, id); !strings.Contains(r, "locked by #2") {
		t.Errorf("#3's apply of tenant:acme was not refused for #2's lock:\n%s", r)
	}
	f.say(3, "dave", "/apply tenant:globex")
	f.stageComment(3, "tenant", "| `globex` | ✅ applied")
	if b, err := os.ReadFile(filepath.Join(state, "tenant-globex.tfstate")); err != nil || !strings.Contains(string(b), "(v3)") {
		t.Errorf("#3 did not apply globex: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(state, "tenant-acme.tfstate")); !strings.Contains(string(b), "(v2)") {
		t.Error("acme's state is not #2's any more")
	}

	// Drift is per instance: main's module is v1, acme runs #2's v2 and
	// globex #3's v3; initech was never applied.
	ask := gh.AddIssue(repo, "alice", "Are the tenants what main says?")
	did := gh.AddComment(repo, ask, "alice", "/drift tenant:acme tenant:globex")
	f.deliver("issue_comment", gh.IssueCommentPayload(repo, ask, did))
	r := f.reply(ask, did)
	var titles []string
	for _, is := range gh.Issues(repo) {
		if slices.Contains(is.Labels, "stagebot-drift") {
			titles = append(titles, is.Title)
		}
	}
	slices.Sort(titles)
	if !strings.Contains(r, "`tenant:acme`: **drift**") || !strings.Contains(r, "`tenant:globex`: **drift**") || strings.Contains(r, "initech") ||
		len(titles) != 2 || !strings.Contains(titles[0], "tenant:acme") || !strings.Contains(titles[1], "tenant:globex") {
		t.Errorf("/drift of two instances: %s; drift issues %q", r, titles)
	}

	// Merging #1 applies its one instance.
	gh.AddReview(repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head1})
	mainTip := gh.MergeAs(repo, 1, "alice")
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "closed", 0))
	f.stageComment(1, "tenant", "| `newco` | ✅ applied")
	if b, err := os.ReadFile(filepath.Join(state, "tenant-newco.tfstate")); err != nil || !strings.Contains(string(b), "wordpress-tenant-newco at newco.sites.example.com (v1)") {
		t.Errorf("merging #1 did not apply newco: %v", err)
	}

	// `/unlock tenant` releases every instance #2 holds.
	id = f.say(2, "alice", "/unlock tenant")
	if r := f.reply(2, id); !strings.Contains(r, "Released this pull request's lock on `tenant:acme`") {
		t.Errorf("/unlock tenant:\n%s", r)
	}

	// #4 deletes acme's file: its destroy is planned, from the file as it
	// is on the base, and applied like any plan.
	head4 := gh.Commit(repo, "pr-4", "main", map[string]string{"terraform/tenants/acme.tfvars": ""}, "offboard acme")
	gh.AddPull(repo, githubtest.Pull{Number: 4, Author: "alice", HeadRef: "pr-4", HeadSHA: head4, BaseRef: "main", BaseSHA: mainTip})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 4, "opened", 0))
	body = f.stageComment(4, "tenant", "1 instance(s)")
	for _, want := range []string{"| `acme` | ⚠️ plan at " + head4[:7] + ": +0 to add, ~0 to change, -1 to destroy", "This pull request deletes the file of instance `acme`", "destroys or replaces 1 resource(s)", "`module.site.terraform_data.site`"} {
		if !strings.Contains(body, want) {
			t.Errorf("#4's comment lacks %q:\n%s", want, body)
		}
	}
	gh.AddReview(repo, 4, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head4})
	f.say(4, "alice", "/apply tenant:acme")
	f.stageComment(4, "tenant", "| `acme` | ✅ applied")
	if b, _ := os.ReadFile(filepath.Join(state, "tenant-acme.tfstate")); strings.Contains(string(b), "terraform_data") {
		t.Errorf("acme's resources are still in its state:\n%s", b)
	}
}
