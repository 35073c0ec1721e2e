package workflow

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

// ATTACK (issue 26, writeParts): partOf takes the FIRST part marker found
// anywhere in a bot comment. A stage's first part starts with the plain
// stage marker (no part=), so a part marker the PR author put in the plan
// (an output value, a resource name, a file) is what partOf finds: the
// bot then deletes the stage's own plan comment right after writing it.
// The plan is still marked posted, so it may be applied though no comment
// shows it.
func TestAttackPlanTextDeletesItsOwnComment(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	evil := "resource \"terraform_data\" \"note\" {\n  input = \"<!-- stagebot:stage=infrastructure part=9 -->\"\n}\n"
	pr := b.pull(t, 1, map[string]string{"terraform/infrastructure/x.tf": evil})
	ev := webhook.PullRequestEvent{InstallationID: githubtest.InstallationID, Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"},
		Action: "opened", Number: 1, Author: "alice", HeadSHA: pr.HeadSHA, HeadRef: "pr", BaseSHA: b.base, BaseRef: "main"}
	if err := b.w.PullRequest(ctx, jobs.PullRequestJob{DeliveryID: "d1", Event: ev}); err != nil {
		t.Fatal(err)
	}
	var shown bool
	for _, c := range b.fake.Comments(b.repo, 1) {
		t.Logf("comment %d bot=%v:\n%.300s", c.ID, c.IsBot, c.Body)
		if c.IsBot && strings.Contains(c.Body, "<!-- stagebot:stage=infrastructure -->") {
			shown = true
		}
	}
	var applyable bool
	for _, c := range b.fake.CheckRuns(b.repo) {
		if c.Name == "stagebot/infrastructure" && c.HeadSHA == pr.HeadSHA && c.Status == "completed" {
			for _, a := range c.Actions {
				applyable = applyable || a.Label == "Apply"
			}
			t.Logf("check run: %s %q actions %+v", c.Conclusion, c.Title, c.Actions)
		}
	}
	if !shown {
		t.Errorf("the plan comment of `infrastructure` was deleted by the bot itself (the PR's output value carried a part marker) (its plan is still marked posted: the check run shows it, Apply button offered now: %v)", applyable)
	}
}

// ATTACK (issue 26, sweepChecks): a merge that waits for another PR's lock
// is never dropped (it runs again when the lock goes), and shows queued
// check runs "Waiting to apply" on the merge commit. The sweep takes those
// for check runs a dead job left behind and completes them as cancelled,
// saying "Nothing was applied by it. Comment /plan ... to run it again",
// while the merge is still pending and will be applied.
func TestAttackSweepCancelsAWaitingMerge(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.fake.SetPermission(b.repo, "alice", "write")
	b.base = b.fake.Commit(b.repo, "main", "", map[string]string{"stagebot.yaml": relaxedRules}, "relax")
	pr := b.pull(t, 1, map[string]string{"terraform/infrastructure/x.tf": "resource \"terraform_data\" \"x\" {}\n"})
	_ = pr
	// PR #2 holds the stage's lock.
	if err := b.w.Store.Lock(ctx, "acme/platform", "infrastructure", 2, b.base); err != nil {
		t.Fatal(err)
	}
	sha := b.fake.MergeAs(b.repo, 1, "alice")
	merged := b.read(t, 1)
	ev := webhook.PullRequestEvent{InstallationID: githubtest.InstallationID, Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"},
		Action: "closed", Merged: true, MergeCommitSHA: merged.MergeCommitSHA, Number: 1, Author: "alice", HeadSHA: merged.HeadSHA, HeadRef: "pr", BaseSHA: b.base, BaseRef: "main"}
	if err := b.w.PullRequest(ctx, jobs.PullRequestJob{DeliveryID: "d2", Event: ev}); err != nil {
		t.Fatal(err)
	}
	pending, err := b.w.Store.PendingMerges(ctx, "acme/platform")
	if err != nil || len(pending) != 1 {
		t.Fatalf("the merge does not wait: %v %v (merge %s)", pending, err, sha)
	}
	var waiting int64
	for _, c := range b.fake.CheckRuns(b.repo) {
		t.Logf("check run %d %s on %.7s: %s %s %q", c.ID, c.Name, c.HeadSHA, c.Status, c.Conclusion, c.Title)
		if c.HeadSHA == merged.MergeCommitSHA && c.Name == "stagebot/infrastructure" && c.Status == "queued" {
			waiting = c.ID
		}
	}
	if waiting == 0 {
		t.Fatal("no queued check run on the merge commit")
	}
	// Later than job timeout + takeover + a minute, the lock still held.
	b.w.SweepChecksAfter = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	if err := b.w.Maintenance(ctx, jobs.MaintenanceJob{}); err != nil {
		t.Fatal(err)
	}
	pending, _ = b.w.Store.PendingMerges(ctx, "acme/platform")
	if c := checkRun(b, waiting); len(pending) == 1 && c.Status == "completed" {
		t.Errorf("the check run of a merge that still waits (and will be applied) was swept: %s %q: %s", c.Conclusion, c.Title, c.Summary)
	}
}
