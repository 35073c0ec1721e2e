package main

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// Attacks on the gate (internal/workflow/gate.go), through the real
// binary. Each test asserts the secure behaviour: it fails while the hole
// it names is open.

// mergeOutcome waits until the merge of PR number was either refused (a
// merge comment saying so) or applied (the stage's comment says so), and
// reports whether it was applied.
func (f *prFlow) mergeOutcome(number int, stage string) (applied bool, body string) {
	eventually(f.t, 3*time.Minute, "the merge's outcome", func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			switch {
			case strings.Contains(c.Body, "<!-- stagebot:merge -->") && strings.Contains(c.Body, "did not apply"):
				body = c.Body
				return true
			case strings.Contains(c.Body, "<!-- stagebot:stage="+stage+" -->") && strings.Contains(c.Body, "✅ stagebot applied `"+stage+"`"):
				applied, body = true, c.Body
				return true
			}
		}
		return false
	})
	return applied, body
}

// applyAnswer waits until the command comment id on PR number was either
// answered (a reply) or applied stage, and returns what the bot wrote.
func (f *prFlow) applyAnswer(number int, id int64, stage string) string {
	var body string
	eventually(f.t, 3*time.Minute, "the answer to /apply", func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			if strings.Contains(c.Body, fmt.Sprintf("stagebot:reply-to=%d ", id)) ||
				strings.Contains(c.Body, "<!-- stagebot:stage="+stage+" -->") && strings.Contains(c.Body, "✅ stagebot applied `"+stage+"`") {
				body = c.Body
				return true
			}
		}
		return false
	})
	return body
}

// selfApprovalRefused has approver /approve the policy denial of PR
// number's infrastructure plan, then applier /apply it. It fails the test
// unless the /approve was refused saying want, and the database that plan
// destroys is still there.
func (f *prFlow) selfApprovalRefused(t *testing.T, state string, number int, approver, applier, want string) {
	t.Helper()
	r := f.reply(number, f.say(number, approver, "/approve infrastructure"))
	if !strings.Contains(r, "was not run") || !strings.Contains(r, want) {
		t.Errorf("@%s's /approve was taken, or refused for another reason than %q:\n%s", approver, want, r)
	}
	r = f.applyAnswer(number, f.say(number, applier, "/apply infrastructure"), "infrastructure")
	time.Sleep(300 * time.Millisecond)
	if !stateHas(t, state, "database") {
		t.Fatalf("a plan approved by @%s alone was applied: the database is gone. /apply said:\n%s", approver, r)
	}
}

// A rebase merge of a PR with more commits than GitHub lists (pulls/{n}/
// commits lists at most 250) is judged by the rules the PR brings: the bot
// walks 250 first parents back from the merge commit, lands inside the
// rebased commits (after the PR's first commit relaxed stagebot.yaml),
// finds the same rules at both ends, and takes the merge commit's first
// parent (one of the PR's own commits) as the reviewed base. Nobody
// approved the PR; the base on main requires approval.
func TestAttackRebaseOfMoreThan250CommitsJudgedByItsOwnRules(t *testing.T) {
	f, state := mergeFlow(t)
	const n = 252 // > 250: the PR's commits as GitHub lists them are cut
	relaxed := "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\n  - name: tenant\n    dir: terraform/tenant\n    depends_on: [platform]\napply:\n  requirements: []\n  users: [alice]\n"
	step := func(i int) map[string]string {
		switch i {
		case 0:
			return map[string]string{"stagebot.yaml": relaxed}
		case n - 1:
			return resource("smuggled")
		}
		return map[string]string{"notes/log.txt": fmt.Sprintf("step %d\n", i)}
	}
	// The PR's branch: n commits, the first relaxes the rules.
	var head string
	for i := 0; i < n; i++ {
		from := ""
		if i == 0 {
			from = "main"
		}
		head = f.gh.Commit(f.repo, "pr-1", from, step(i), fmt.Sprint("step ", i))
	}
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	// "Rebase and merge": the same n commits replayed on main, one by one;
	// the merge commit GitHub reports is the last of them (one parent).
	var merge string
	for i := 0; i < n; i++ {
		merge = f.gh.Commit(f.repo, "main", "", step(i), fmt.Sprint("step ", i))
	}
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) {
		p.Merged, p.State, p.MergeCommitSHA, p.MergedBy = true, "closed", merge, "alice"
	})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	applied, body := f.mergeOutcome(1, "infrastructure")
	if applied || stateHas(t, state, "smuggled") {
		t.Fatalf("an unreviewed rebase merge of %d commits was applied under the rules its first commit brought:\n%s", n, body)
	}
}

// Pushes GitHub sends no `synchronize` for are never recorded as pushes:
// a writer who closes a colleague's PR, pushes to its branch (a commit
// whose author and committer email is the PR author's, which git lets
// anyone write) and reopens it, is then neither its author, nor a commit
// author or committer, nor a recorded pusher. He approves his own change
// (a review and a policy owner's /approve), and the PR's author, who
// never saw the push, applies it: the database is destroyed.
func TestAttackPushWhileClosedLetsThePusherApprove(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	before := f.pr(1, "main", resource("harmless"), f.base, 1)
	// dave closes alice's PR...
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	time.Sleep(time.Second)
	// ...pushes to its branch as "alice" (no synchronize: the PR is
	// closed)...
	head := f.gh.CommitAs(f.repo, "alice", "pr-1", "", map[string]string{"terraform/infrastructure/main.tf": dropped}, "tidy up")
	// GitHub sends the push of a branch, whoever's PR it heads.
	f.deliver("push", f.gh.PushPayload(f.repo, "pr-1", before, head, "dave"))
	// ...and reopens it.
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.State, p.HeadSHA, p.MergeableState = "open", head, "clean" })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "reopened", 0))
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "cannot tell who pushed it")
}

// A policy owner's /approve counts only from a writer: a member of the
// owning team who may only read the repository approves a denied plan,
// and it is applied.
func TestAttackPolicyOwnerWithoutWriteApproves(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	f.gh.SetPermission(f.repo, "rita", "read")
	f.gh.AddTeamMember("acme", "dba", "rita")
	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": dropped}, f.base, 1)
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.MergeableState = "clean" })
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.selfApprovalRefused(t, state, 1, "rita", "carol", "@rita has the `read` role")
}

// A policy owner's /approve says it "holds for this plan only: a new plan
// is checked again", but on merge any approval recorded at the PR's head
// overrides whatever the merge commit's plan is denied for. dave approves
// destroying the cache; main meanwhile dropped the database in a merge
// whose apply the policy refused; the merge commit's plan destroys the
// cache and the database, and is applied on the strength of the cache's
// approval.
func TestAttackPolicyApprovalCarriedToAMergePlanWithOtherDenials(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	cache := "resource \"terraform_data\" \"cache\" {\n  input = \"cache\"\n}\n"
	applyByHand(t, mainTF+cache)
	anyDelete := "package stagebot\n\ndeny contains msg if {\n\tsome rc in input.resource_changes\n\t\"delete\" in rc.change.actions\n\tmsg := sprintf(\"%s would be destroyed\", [rc.address])\n}\n"
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": policyYAML, "policies/deletes.rego": anyDelete, "terraform/infrastructure/cache.tf": cache}, "policies")
	f.gh.SetPermission(f.repo, "dave", "write")
	f.gh.AddTeamMember("acme", "dba", "dave")
	if !stateHas(t, state, "database") || !stateHas(t, state, "cache") {
		t.Fatal("the fixture did not deploy the database and the cache")
	}

	// PR 1 drops the cache; dave, a policy owner, approves that.
	f.pr(1, "main", map[string]string{"terraform/infrastructure/cache.tf": ""}, f.base, 1)
	if body := f.stageComment(1, "infrastructure", "Denied by policy"); strings.Contains(body, "terraform_data.database would be destroyed") {
		t.Fatalf("PR 1's plan already destroys the database:\n%s", body)
	}
	if r := f.reply(1, f.say(1, "dave", "/approve infrastructure")); !strings.Contains(r, "approved the current plan") {
		t.Fatalf("dave's /approve:\n%s", r)
	}

	// PR 2 drops the database; it is merged, and its apply is refused.
	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	f.pr(2, "main", map[string]string{"terraform/infrastructure/main.tf": dropped}, f.base, 1)
	f.stageComment(2, "infrastructure", "Denied by policy")
	f.gh.MergeAs(f.repo, 2, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "closed", 0))
	f.mergeComment(2, "did not apply `infrastructure` on merge")
	if !stateHas(t, state, "database") {
		t.Fatal("PR 2's denied merge was applied")
	}

	// PR 1 is merged: its merge commit's plan destroys the cache and the
	// database; only the cache's destruction was approved.
	f.gh.MergeAs(f.repo, 1, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	applied, body := f.mergeOutcome(1, "infrastructure")
	time.Sleep(300 * time.Millisecond)
	if applied || !stateHas(t, state, "database") {
		t.Fatalf("a merge plan denied for destroying the database was applied on an approval of destroying the cache:\n%s", body)
	}
}

// The dashboard's lock release does not pass the gate: in a repository
// taken off the allowlist (STAGEBOT_REPO_ALLOWLIST), a writer releases a
// PR's lock from the dashboard, and the bot, which serves nothing there,
// releases it and comments on the PR.
func TestAttackDashboardReleaseInAnUnservedRepository(t *testing.T) {
	addr := freeAddr(t)
	public := "http://" + addr
	web := []string{"STAGEBOT_LISTEN=" + addr, "STAGEBOT_PUBLIC_URL=" + public,
		"STAGEBOT_GITHUB_CLIENT_ID=" + githubtest.ClientID, "STAGEBOT_GITHUB_CLIENT_SECRET=" + githubtest.ClientSecret}
	f, _ := mergeFlow(t, web...)
	f.pr(1, "main", resource("held"), f.base, 1)
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.MergeableState = "clean" })
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	// The repository is taken off the allowlist.
	data := f.bot.dataDir()
	f.bot.stop()
	f.bot = startBot(t, append(append(autoplanEnv(f.gh, data), web...), "STAGEBOT_REPO_ALLOWLIST=acme/other"))
	before := len(f.gh.BotComments(f.repo, 1))
	alice := login(t, f.gh, public, "alice")
	_, page := get(t, alice, public+"/")
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token on the overview:\n%s", page)
	}
	resp, err := alice.PostForm(public+"/repos/acme/platform/locks/infrastructure/release", url.Values{"csrf": {m[1]}, "back": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(time.Second)
	for _, c := range f.gh.BotComments(f.repo, 1)[before:] {
		t.Errorf("the bot released a lock and commented in a repository it does not serve (release answered %d):\n%s", resp.StatusCode, c.Body)
	}
}
