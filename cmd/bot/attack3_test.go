package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A third round of attacks on the gate (internal/workflow/gate.go,
// approvals.go), through the real binary. Each test asserts the secure
// behaviour: it fails while the hole it names is open.

// An "evil merge": alice's PR adds a reviewed resource and carol approves
// it. alice merges it by hand (git merge --no-ff pr-1 on main, as
// GitHub's "merge on the command line" allows) and, in the merge commit
// itself, adds a resource nobody reviewed; she pushes main. The merge
// commit's parents are exactly what mergeBase asks for (main as the PR
// was reviewed against it, and the PR's approved head), so the turn takes
// it as GitHub's merge, plans the merge commit's tree, which is not the
// merge of those parents, and applies the smuggled resource.
func TestAttack3EvilMergeCommitBringsUnreviewedChanges(t *testing.T) {
	handMadeMerge(t, "a merge commit whose tree adds what neither parent has", func(work string) {
		gitBy(t, work, "alice", "merge", "-q", "--no-ff", "--no-commit", "pr-1")
		writeFiles(t, work, resource("smuggled"))
		gitBy(t, work, "alice", "add", "-A")
		gitBy(t, work, "alice", "commit", "-q", "-m", "Merge pull request #1")
	})
}

// handMadeMerge has carol approve alice's PR 1, which adds a reviewed
// resource; alice then makes its merge by hand on main (merge, on a
// checkout of main in the fake GitHub's work tree) and pushes it, and the
// PR is shown merged. The test fails (saying what the merge was) if the
// resource "smuggled" the merge brought is deployed.
func handMadeMerge(t *testing.T, what string, merge func(work string)) {
	f, state := mergeFlow(t)
	f.pr(1, "main", resource("reviewed"), f.base, 1)
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.MergeableState = "clean" })
	f.stageComment(1, "infrastructure", "to add")
	work := fakeWorkTree(t)
	gitBy(t, work, "alice", "checkout", "-q", "main")
	merge(work)
	gitBy(t, work, "alice", "push", "-q", "origin", "main")
	sha := gitBy(t, work, "alice", "rev-parse", "HEAD")
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) {
		p.Merged, p.State, p.MergeCommitSHA, p.MergedBy = true, "closed", sha, "alice"
	})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	applied, body := f.mergeOutcome(1, "infrastructure")
	time.Sleep(300 * time.Millisecond)
	if stateHas(t, state, "smuggled") {
		t.Fatalf("%s was applied (applied=%v): the unreviewed resource is deployed:\n%s", what, applied, body)
	}
}

// dropDenied waits for PR number's infrastructure plan, denied by the
// policy for destroying the database, and fails the test if it is not.
func (f *prFlow) dropDenied(t *testing.T, number int) {
	t.Helper()
	plan := f.stageComment(number, "infrastructure", "Denied by policy")
	if !strings.Contains(plan, "terraform_data.database would be destroyed") {
		t.Fatalf("PR %d's plan does not destroy the database:\n%s", number, plan)
	}
}

// A commit pushed to another branch first: dave writes the drop of the
// database in a commit whose email is nobody's on GitHub and pushes it to
// a branch "wip" (GitHub reports the push, the bot records dave as a
// pusher of "wip"). alice builds her harmless change on "wip" and pushes
// it as pr-1, and opens PR 1 into main. dave pushed no commit to pr-1 and
// GitHub attributes his commit to nobody, so he is no maker of PR 1: he
// approves it and the policy's denial, and alice applies it. The README
// says a commit whose email is nobody's "is caught through its push's
// sender"; pushers are recorded per branch, not per commit.
func TestAttack3CommitPushedToAnotherBranchLetsItsPusherApprove(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	daves := f.gh.Commit(f.repo, "wip", "main", dropDatabase(mainTF), "tidy up")
	f.deliver("push", f.gh.PushPayload(f.repo, "wip", "0000000000000000000000000000000000000000", daves, "dave"))
	head := f.gh.CommitAs(f.repo, "alice", "pr-1", "wip", resource("harmless"), "harmless")
	f.deliver("push", f.gh.PushPayload(f.repo, "pr-1", "0000000000000000000000000000000000000000", head, "alice"))
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.dropDenied(t, 1)
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "@dave opened or pushed to this pull request")
}

// A fork's pushes before its PR is opened: alice pushes a harmless commit
// to her fork's branch, dave (a collaborator on her fork) pushes the drop
// of the database on top (a commit whose email is nobody's), and alice
// opens the PR. GitHub reports no push of a fork to this repository, and
// the bot records the `opened` head as announced ("its pusher is known:
// the author"), so dave is no maker: he approves it and its policy
// denial, and alice applies it. The fix of attack2 covered the fork's
// pushes while the PR was closed, not those before it was opened.
func TestAttack3ForkPushBeforeOpenedLetsThePusherApprove(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	f.gh.CommitAs(f.repo, "alice", "pr-1", "main", resource("harmless"), "harmless")
	head := f.gh.Commit(f.repo, "pr-1", "", dropDatabase(mainTF), "tidy up") // dave's push to the fork: no event here
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, HeadRepo: "alice/platform", MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.say(1, "alice", "/plan infrastructure")
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "cannot tell who pushed it")
}

// A push whose sender is not who made it: GitHub reports a push made with
// a workflow's GITHUB_TOKEN (or an App's token) as sent by
// github-actions[bot] (or the App), whoever started the workflow. dave
// dispatches a workflow of his that pushes the drop of the database (a
// commit whose email is nobody's) onto alice's PR; the synchronize
// delivery's sender is github-actions[bot], so the head counts as
// announced and dave is no maker: he approves it and its policy denial,
// and alice applies it.
func TestAttack3PushByAWorkflowHidesItsPusher(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	f.pr(1, "main", resource("harmless"), f.base, 1)
	head, push := f.gh.PushToPull(f.repo, 1, "", "github-actions[bot]", dropDatabase(mainTF))
	f.deliver("pull_request", push)
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "cannot tell who pushed it")
}
