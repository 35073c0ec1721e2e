package main

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A second round of attacks on the gate (internal/workflow/gate.go),
// through the real binary. Each test asserts the secure behaviour: it
// fails while the hole it names is open.

// relaxedRules is a stagebot.yaml a PR brings: no apply requirements, its
// author listed as an applier.
const relaxedRules = "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\n  - name: tenant\n    dir: terraform/tenant\n    depends_on: [platform]\napply:\n  requirements: []\n  users: [alice]\n"

// fakeWorkTree is the fake GitHub's working copy of acme/platform (its
// commits are made there and pushed to the bare repository it serves):
// the test's own git client, to push what GitHub's API cannot make, such
// as a merge made by hand. githubtest.New(t) made it in t's temp dir.
func fakeWorkTree(t *testing.T) string {
	t.Helper()
	var found string
	root := filepath.Dir(t.TempDir())
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found != "" {
			return filepath.SkipDir
		}
		if d.IsDir() && strings.HasSuffix(p, filepath.Join("acme", "platform")) {
			if _, err := os.Stat(filepath.Join(p, ".git")); err == nil {
				found = p
				return filepath.SkipAll
			}
		}
		return nil
	})
	if found == "" {
		t.Fatal("the fake GitHub's work tree of acme/platform was not found")
	}
	return found
}

// gitBy runs git in dir as login (its noreply identity) and returns its
// trimmed output.
func gitBy(t *testing.T, dir, login string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	email := login + "@users.noreply.github.com"
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME="+login, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_NAME="+login, "GIT_COMMITTER_EMAIL="+email, "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// A merge made by hand and pushed, as GitHub's "merge on the command
// line" instructions allow: alice's PR relaxes stagebot.yaml (no
// requirements, herself an applier); nobody approves it. She merges main
// into her branch (a merge commit whose first parent is her own commit,
// as `git merge main` on the branch, or GitHub's "Update branch", makes)
// and pushes that commit to main: a fast-forward. GitHub marks the PR
// merged with that commit. mergeBase takes any merge commit's first
// parent as the reviewed base, so the merge is judged by the rules the PR
// brings, and applied without the approval main's rules require.
func TestAttack2HandMadeMergeWhoseFirstParentIsThePRs(t *testing.T) {
	f, state := mergeFlow(t)
	files := resource("smuggled")
	files["stagebot.yaml"] = relaxedRules
	f.openUnreviewed(1, files, "infrastructure")
	// main moves on meanwhile.
	f.gh.Commit(f.repo, "main", "", map[string]string{"docs/notes.md": "notes\n"}, "notes")
	work := fakeWorkTree(t)
	gitBy(t, work, "alice", "checkout", "-q", "pr-1")
	gitBy(t, work, "alice", "merge", "-q", "--no-ff", "-m", "Merge branch 'main' into pr-1", "main")
	gitBy(t, work, "alice", "push", "-q", "origin", "pr-1")
	gitBy(t, work, "alice", "checkout", "-q", "main")
	gitBy(t, work, "alice", "merge", "-q", "--ff-only", "pr-1")
	gitBy(t, work, "alice", "push", "-q", "origin", "main")
	merge := gitBy(t, work, "alice", "rev-parse", "HEAD")
	parents := strings.Fields(gitBy(t, work, "alice", "log", "-1", "--format=%P", merge))
	if len(parents) != 2 {
		t.Fatalf("the hand-made merge has parents %v", parents)
	}
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) {
		p.HeadSHA, p.Merged, p.State, p.MergeCommitSHA, p.MergedBy = merge, true, "closed", merge, "alice"
	})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	applied, body := f.mergeOutcome(1, "infrastructure")
	time.Sleep(300 * time.Millisecond)
	if applied || stateHas(t, state, "smuggled") {
		t.Fatalf("an unreviewed merge pushed by hand was judged by the rules it brings (its first parent %s is the PR's own commit) and applied:\n%s", parents[0][:7], body)
	}
}

// A stacked PR: dave pushes a commit that destroys the database to his
// branch pr-9 (GitHub reports the push, the bot records it). alice opens
// PR 1 from pr-1, a harmless commit on top of pr-9, into pr-9. GitHub
// lists PR 1's commits as pr-9..pr-1, alice's alone, and dave never
// pushed to pr-1: he is no maker of PR 1, though its head, which /apply
// applies, holds his commit. He approves PR 1 and the policy's denial of
// destroying the database, and alice applies it: one person's change,
// approved by himself. The two-person rule counts the commits of the
// PR's diff, not those of what is applied (the head's commits that are
// not on the default branch).
func TestAttack2StackedPRLetsTheBaseBranchsPusherApprove(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	before := f.base
	daves := f.gh.CommitAs(f.repo, "dave", "pr-9", "main", map[string]string{"terraform/infrastructure/main.tf": dropped}, "drop the database")
	f.deliver("push", f.gh.PushPayload(f.repo, "pr-9", before, daves, "dave"))
	head := f.gh.CommitAs(f.repo, "alice", "pr-1", "pr-9", resource("harmless"), "harmless")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "pr-9", BaseSHA: daves, MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.dropDenied(t, 1)
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "not into the default branch")
}

// The fix for pushes while a PR is closed (push events to its head
// branch) leaves out PRs from forks, whose pushes reach the fork's events
// and never this repository's: dave, who may push to the fork (an
// organisation's fork, or alice's with him as a collaborator), closes
// alice's PR, pushes the drop of the database as "alice" to its branch,
// and reopens it. He is then no maker, approves it and its policy
// denial, and alice applies it.
func TestAttack2ForkPushWhileClosedLetsThePusherApprove(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := deployDatabase(t, f, state)
	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	first := f.gh.CommitAs(f.repo, "alice", "pr-1", "main", resource("harmless"), "harmless")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: first, BaseRef: "main", BaseSHA: f.base, HeadRepo: "alice/platform", MergeableState: "clean"})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.say(1, "alice", "/plan infrastructure")
	f.stageComment(1, "infrastructure", "to add")
	// dave closes it, pushes to the fork's branch (no event here), and
	// reopens it.
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	time.Sleep(time.Second)
	head := f.gh.CommitAs(f.repo, "alice", "pr-1", "", map[string]string{"terraform/infrastructure/main.tf": dropped}, "tidy up")
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.State, p.HeadSHA = "open", head })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "reopened", 0))
	f.say(1, "alice", "/plan infrastructure")
	f.stageComment(1, "infrastructure", "Denied by policy")
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.selfApprovalRefused(t, state, 1, "dave", "alice", "cannot tell who pushed it")
}
