package main

import (
	"fmt"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A fourth round of attacks on the gate (internal/workflow/gate.go,
// approvals.go, pullrequest.go), through the real binary. Each test
// asserts the secure behaviour: it fails while the hole it names is open.

// The attack3 fix moved one commit down: alice's PR adds a reviewed
// resource and carol approves it. alice merges it by hand, but first
// commits the unreviewed resource on main (P), then merges the PR into
// it (git merge --no-ff pr-1: parents [P, the approved head]) and pushes
// main. mergeBase checks that the second parent is the PR's head, that
// the merge commit holds exactly merge-tree(P, head) (it does: the merge
// is clean and untouched) and that P's rules are those of the PR's base
// (only the rules: P changes Terraform code). Nothing checks that P, the
// first parent, was ever reviewed or was the default branch's tip: the
// merge commit's tree, smuggled resource included, is applied.
func TestAttack4EvilFirstParentOfAHandMadeMerge(t *testing.T) {
	handMadeMerge(t, "a hand-made merge whose first parent carries an unreviewed commit", func(work string) {
		writeFiles(t, work, resource("smuggled"))
		gitBy(t, work, "alice", "add", "-A")
		gitBy(t, work, "alice", "commit", "-q", "-m", "wip")
		gitBy(t, work, "alice", "merge", "-q", "--no-ff", "-m", "Merge pull request #1", "pr-1")
	})
}

// A PR opened by a workflow (github-actions[bot], started by alice, a
// harmless change). dave dispatches another workflow that pushes the drop
// of the database onto it (a commit whose email is nobody's): GitHub's
// synchronize names github-actions[bot], the PR's author, as sender, and
// announcesPusher takes "a [bot] pushing to a PR it opened" as a known
// pusher. The bot acts for whoever started it, exactly as for a PR it did
// not open, so dave is no maker: he approves the head and the policy's
// denial, and alice applies it.
func TestAttack4BotPushToThePRTheSameBotOpened(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	const bot = "github-actions[bot]"
	first := f.gh.Commit(f.repo, "pr-1", "main", resource("harmless"), "harmless")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: bot, HeadRef: "pr-1", HeadSHA: first, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "to add")
	head, push := f.gh.PushToPull(f.repo, 1, "", bot, dropDatabase(mainTF))
	f.deliver("pull_request", push)
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "cannot tell who pushed it")
}

// GitHub lists at most 250 of a PR's commits (GET /pulls/{n}/commits), the
// oldest. alice's PR has 250 commits (a vendored module, a long history);
// dave writes the drop of the database in a commit GitHub attributes to
// him, and alice pushes it onto her PR (the case the README names: "the
// author or committer of any of its commits"). It is the 251st commit:
// makers never sees it, so dave, its author, approves it and the policy's
// denial, and alice applies it.
func TestAttack4CommitBeyond250IsNobodys(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	var head string
	for i := 0; i < 250; i++ {
		from := ""
		if i == 0 {
			from = "main"
		}
		head = f.gh.CommitAs(f.repo, "alice", "pr-1", from, map[string]string{"notes/log.txt": fmt.Sprintf("step %d\n", i)}, fmt.Sprint("step ", i))
	}
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	head, push := f.gh.PushToPull(f.repo, 1, "dave", "alice", dropDatabase(mainTF))
	f.deliver("pull_request", push)
	f.dropDenied(t, 1)
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "was not run")
}

// A false refusal of GitHub's own "Rebase and merge": alice's PR has two
// commits, the second editing the file the first added (the most common
// shape of a PR: a change and its review fix-up). carol approves it and
// alice rebases and merges. The merge commit's first parent is the first
// rebased commit; mergeBase asks git merge-tree to merge the PR's head
// into it, whose merge base is the PR's old base: both sides add the file,
// with different contents, a conflict. The reviewed, approved merge is
// refused ("holds other changes than the merge...").
func TestAttack4RebaseMergeOfAFixupIsRefused(t *testing.T) {
	f, _ := mergeFlow(t)
	const file = "terraform/infrastructure/reviewed.tf"
	v := func(input string) map[string]string {
		return map[string]string{file: fmt.Sprintf("resource \"terraform_data\" \"reviewed\" {\n  input = %q\n}\n", input)}
	}
	f.gh.Commit(f.repo, "pr-1", "main", v("first"), "add reviewed")
	head := f.gh.Commit(f.repo, "pr-1", "", v("second"), "review fix-up")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "to add")
	// main moves on meanwhile; "Rebase and merge" replays both commits on
	// it (new SHAs, as GitHub's rebase always makes).
	// (through PR 2, merged: what reaches main comes through a PR)
	notes := f.gh.Commit(f.repo, "main", "", map[string]string{"docs/notes.md": "notes\n"}, "notes")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 2, Author: "carol", State: "closed", HeadRef: "notes", HeadSHA: notes, BaseRef: "main", BaseSHA: f.base, Merged: true, MergeCommitSHA: notes})
	f.gh.Commit(f.repo, "main", "", v("first"), "add reviewed")
	merge := f.gh.Commit(f.repo, "main", "", v("second"), "review fix-up")
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) {
		p.Merged, p.State, p.MergeCommitSHA, p.MergedBy = true, "closed", merge, "alice"
	})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	if applied, body := f.mergeOutcome(1, "infrastructure"); !applied {
		t.Fatalf("GitHub's rebase merge of an approved two-commit PR was refused:\n%s", body)
	}
}
