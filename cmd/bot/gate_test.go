package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// The gate, attacked end to end: what a PR brings never judges it, nobody
// approves their own change, and upstream secrets stay redacted on every
// path, by a bot that has just started.

// A PR that relaxes stagebot.yaml (no requirements, its author in
// apply.users) and is merged by its author without review is judged by
// the rules of the merge commit's first parent: nothing is applied. Its
// plan said the rules it brings take effect only after the merge.
func mergeJudgedByTheRulesOfItsBase(t *testing.T) {
	f, state := mergeFlow(t)
	relaxed := "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\n  - name: tenant\n    dir: terraform/tenant\n    depends_on: [platform]\napply:\n  requirements: []\n  users: [alice]\n"
	files := resource("smuggled")
	files["stagebot.yaml"] = relaxed
	head := f.gh.Commit(f.repo, "pr-1", "main", files, "relax the rules")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	plan := f.stageComment(1, "infrastructure", "to add")
	if !strings.Contains(plan, "This pull request changes the rules stagebot judges changes by") || !strings.Contains(plan, "`stagebot.yaml`") {
		t.Errorf("the plan does not say the PR changes the rules:\n%s", plan)
	}
	if r := f.reply(1, f.say(1, "alice", "/apply infrastructure")); !strings.Contains(r, "`approved` requirement is not met") {
		t.Errorf("/apply before the merge:\n%s", r)
	}
	f.mergeUnapproved(t, 1)
	if stateHas(t, state, "smuggled") {
		t.Fatal("a merge was applied under the rules it brought itself")
	}
}

// A PR that rewrites the policy to allow everything and drops the
// database, approved by a writer who is no policy owner and merged, is
// checked against the policy of the merge commit's first parent: the
// database stays.
func mergeCheckedAgainstThePolicyOfItsBase(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	files := map[string]string{
		"terraform/infrastructure/main.tf": dropDatabase(mainTF)["terraform/infrastructure/main.tf"],
		"policies/database.rego":           "package stagebot\n",
	}
	f.pr(1, "main", files, f.base, 1)
	if body := f.stageComment(1, "infrastructure", "Denied by policy"); !strings.Contains(body, "`policies/database.rego`") {
		t.Errorf("the plan does not name the policy the PR changes:\n%s", body)
	}
	f.gh.MergeAs(f.repo, 1, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	if body := f.mergeComment(1, "did not apply `infrastructure` on merge"); !strings.Contains(body, "deny the plan of merge commit") {
		t.Errorf("merge comment:\n%s", body)
	}
	if !stateHas(t, state, "database") {
		t.Fatal("the merge was checked against the policy it brought: the database was destroyed")
	}
}

// deployDatabase applies the quickstart's infrastructure by hand, and puts
// the database policy (owned by team acme/dba, of which dave is a member)
// on main. It returns the stage's main.tf.
func deployDatabase(t *testing.T, f *prFlow, state string) string {
	t.Helper()
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	applyByHand(t, mainTF)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": policyYAML, "policies/database.rego": databasePolicy}, "policies")
	f.gh.SetPermission(f.repo, "dave", "write")
	f.gh.AddTeamMember("acme", "dba", "dave")
	return mainTF
}

// dropDatabase is main.tf without the database.
func dropDatabase(mainTF string) map[string]string {
	return map[string]string{"terraform/infrastructure/main.tf": strings.Replace(mainTF, "resource \"terraform_data\" \"database\" {\n  input = \"demo-postgres\"\n}\n", "", 1)}
}

// Nobody approves their own change: a writer who pushed to a colleague's
// PR, or wrote a commit someone else pushed there, can neither approve it
// (by review) nor approve its policy denial, nor apply it on those
// grounds; and a head whose push GitHub never announced (its delivery
// lost) is nobody's to approve.
func pusherCannotApproveTheirOwnPush(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	dropped := map[string]string{"terraform/infrastructure/main.tf": dropDatabase(mainTF)["terraform/infrastructure/main.tf"]}
	approveAndApply := func(number int, head, approver string) (approve, apply string) {
		f.stageComment(number, "infrastructure", "Denied by policy")
		f.gh.AddReview(f.repo, number, githubtest.Review{User: approver, State: "APPROVED", CommitID: head})
		return f.reply(number, f.say(number, approver, "/approve infrastructure")), f.reply(number, f.say(number, "carol", "/apply infrastructure"))
	}

	// PR 1: alice's harmless PR; dave pushes the drop, GitHub says so.
	f.pr(1, "main", resource("harmless"), f.base, 1)
	head, push := f.gh.PushToPull(f.repo, 1, "", "dave", dropped)
	f.deliver("pull_request", push)
	approve, apply := approveAndApply(1, head, "dave")
	if !strings.Contains(approve, "@dave opened or pushed to this pull request") {
		t.Errorf("/approve by the pusher:\n%s", approve)
	}
	if !strings.Contains(apply, "`approved` requirement is not met") || !strings.Contains(apply, "Approvals by @dave do not count") {
		t.Errorf("/apply approved only by the pusher:\n%s", apply)
	}

	// PR 2: dave wrote the drop, alice pushed it: the commit, which GitHub
	// attributes to dave, says who made it.
	f.pr(2, "main", resource("harmless2"), f.base, 1)
	head, push = f.gh.PushToPull(f.repo, 2, "dave", "alice", dropped)
	f.deliver("pull_request", push)
	approve, apply = approveAndApply(2, head, "dave")
	if !strings.Contains(approve, "@dave opened or pushed to this pull request") {
		t.Errorf("/approve by the commit's author:\n%s", approve)
	}
	if !strings.Contains(apply, "`approved` requirement is not met") {
		t.Errorf("/apply approved only by the commit's author:\n%s", apply)
	}

	// PR 3: the push's delivery was lost; a /plan shows the new head.
	// erin, a policy owner who made none of it, cannot tell it from dave's.
	f.gh.SetPermission(f.repo, "erin", "write")
	f.gh.AddTeamMember("acme", "dba", "erin")
	f.pr(3, "main", resource("harmless3"), f.base, 1)
	head, _ = f.gh.PushToPull(f.repo, 3, "", "dave", dropped)
	f.say(3, "alice", "/plan infrastructure")
	approve, apply = approveAndApply(3, head, "erin")
	if !strings.Contains(approve, "cannot tell who pushed it") || !strings.Contains(apply, "cannot tell who pushed it") {
		t.Errorf("approvals of a head whose push was never announced:\n%s\n%s", approve, apply)
	}
	time.Sleep(300 * time.Millisecond)
	if !stateHas(t, state, "database") {
		t.Fatal("one person's push was approved by themselves and applied")
	}
}

// upstreamLeak is a repository whose infrastructure holds a sensitive
// output (applied by hand, before the bot ever ran) and whose platform on
// main reads it through terraform_remote_state into a resource, through
// nonsensitive(). Its plan shows the value unless the bot read the
// upstream's outputs first.
const upstreamPassword = "upstream-Pa55word-do-not-show"

func upstreamLeak(t *testing.T, extraEnv ...string) (*prFlow, string, func(string) string) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	backend := func(name string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, name+".tfstate"))
	}
	infra := backend("infrastructure") + fmt.Sprintf("resource \"terraform_data\" \"db\" {\n  input = \"db\"\n}\noutput \"db_password\" {\n  value     = %q\n  sensitive = true\n}\n", upstreamPassword)
	applyByHand(t, infra)
	platform := func(input string) string {
		return backend("platform") + fmt.Sprintf(`
data "terraform_remote_state" "infra" {
  backend = "local"
  config = {
    path = %q
  }
}
resource "terraform_data" "leak" {
  input = "%s-${nonsensitive(data.terraform_remote_state.infra.outputs.db_password)}"
}
`, filepath.Join(state, "infrastructure.tfstate"), input)
	}
	cfg := "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\napply:\n  requirements: []\ndrift:\n  schedule: \"@every 1h\"\n"
	base := gh.Commit(repo, "main", "", map[string]string{"stagebot.yaml": cfg, "terraform/infrastructure/main.tf": infra, "terraform/platform/main.tf": platform("v1")}, "init")
	gh.SetPermission(repo, "alice", "write")
	env := append(autoplanEnv(gh, t.TempDir()), extraEnv...)
	return &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}, state, platform
}

// noLeak fails the test if anything the bot wrote to GitHub shows the
// upstream password.
func noLeak(t *testing.T, f *prFlow) {
	t.Helper()
	for _, cr := range f.gh.CheckRuns(f.repo) {
		if strings.Contains(cr.Title+cr.Summary+cr.Text, upstreamPassword) {
			t.Errorf("check run %s on %s shows the upstream secret", cr.Name, cr.HeadSHA)
		}
	}
	for _, is := range f.gh.Issues(f.repo) {
		if strings.Contains(is.Title+is.Body, upstreamPassword) {
			t.Errorf("issue #%d shows the upstream secret", is.Number)
		}
		for _, c := range f.gh.Comments(f.repo, is.Number) {
			if strings.Contains(c.Body, upstreamPassword) {
				t.Errorf("a comment on #%d shows the upstream secret", is.Number)
			}
		}
	}
}

// A freshly started bot's drift check of platform (which drifted: its
// resource was never applied) reads infrastructure's outputs before it
// plans: the drift issue does not show the secret.
func driftAfterRestartRedactsUpstreamSecrets(t *testing.T) {
	f, _, _ := upstreamLeak(t)
	ask := f.gh.AddIssue(f.repo, "alice", "Is production what main says?")
	id := f.gh.AddComment(f.repo, ask, "alice", "/drift platform")
	f.deliver("issue_comment", f.gh.IssueCommentPayload(f.repo, ask, id))
	if r := f.reply(ask, id); !strings.Contains(r, "**drift**") {
		t.Fatalf("/drift platform:\n%s", r)
	}
	var body string
	for _, is := range f.gh.Issues(f.repo) {
		if strings.Contains(is.Body, "stagebot:drift") {
			body = is.Body
		}
	}
	if !strings.Contains(body, "terraform_data.leak") || !strings.Contains(body, "(redacted)") {
		t.Errorf("the drift issue does not show the redacted plan:\n%s", body)
	}
	noLeak(t, f)
}

// A bot restarted between a PR's plan and its merge reads the upstream's
// outputs before it plans the merge commit: neither the merge commit's
// check run nor the apply comment shows the secret.
func mergeAfterRestartRedactsUpstreamSecrets(t *testing.T) {
	f, state, platform := upstreamLeak(t)
	f.pr(1, "main", map[string]string{"terraform/platform/main.tf": platform("v2")}, f.base, 1)
	if body := f.stageComment(1, "platform", "to add"); strings.Contains(body, upstreamPassword) {
		t.Fatalf("the PR's plan shows the secret:\n%s", body)
	}
	f.restart(t)
	merge := f.gh.MergeAs(f.repo, 1, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	f.stageComment(1, "platform", "✅ stagebot applied `platform`")
	if !stateHasIn(t, filepath.Join(state, "platform.tfstate"), "leak") {
		t.Error("the merge was not applied")
	}
	ran := false
	for _, cr := range f.gh.CheckRuns(f.repo) {
		ran = ran || (cr.HeadSHA == merge && cr.Name == "stagebot/platform")
	}
	if !ran {
		t.Error("no check run on the merge commit")
	}
	noLeak(t, f)
}

// An Apply button pressed on the check run of an older head is answered
// in the PR, and nothing is applied: not the older plan, nor the current
// head's.
func TestButtonOfAnOlderHeadAppliesNothing(t *testing.T) {
	f, state := mergeFlow(t)
	f.pr(1, "main", resource("first"), f.base, 1)
	f.stageComment(1, "infrastructure", "to add")
	old := f.settledCheckRun("stagebot/infrastructure", func(c githubtest.CheckRun) bool { return c.Status == "completed" })
	head, push := f.gh.PushToPull(f.repo, 1, "", "alice", resource("second"))
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", push)
	f.stageComment(1, "infrastructure", "at "+head[:7])
	f.deliver("check_run", f.gh.RequestedActionPayload(f.repo, old.ID, "apply", "carol", 1))
	reply := f.reply(1, -old.ID)
	if !strings.Contains(reply, "was not run") || !strings.Contains(reply, "A button acts only on its own commit") {
		t.Errorf("a press on the older head's check run:\n%s", reply)
	}
	time.Sleep(300 * time.Millisecond)
	if stateHas(t, state, "first") || stateHas(t, state, "second") {
		t.Fatal("a press on an older head's check run applied a plan")
	}
}
