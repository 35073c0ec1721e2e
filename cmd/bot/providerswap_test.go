package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A PR that brings its own provider code: a binary in the stage's implied
// local mirror (terraform.d/plugins; Terraform ignores it, as the stage
// needs no such provider, but nothing tells the bot so), or other hashes
// in the stage's lock file.

const (
	swapPlugin = "terraform/infrastructure/terraform.d/plugins/example.com/x/y/1.0.0/linux_amd64/terraform-provider-y"
	swapLock   = "terraform/infrastructure/.terraform.lock.hcl"
	// swapWarning opens the warning of a plan that ran provider code from
	// the PR.
	swapWarning = "This plan ran provider code from the pull request"
)

// providerSwap is a change that adds resource name and a provider binary
// of the PR's own to the infrastructure stage.
func providerSwap(name string) map[string]string {
	files := resource(name)
	files[swapPlugin] = "#!/bin/sh\necho pwned\n"
	return files
}

// lockOf is a lock file for a provider the stages do not use (terraform
// init drops it from the checkout's copy), admitting hash.
func lockOf(hash string) string {
	return "# This file is maintained automatically by \"terraform init\".\n" +
		"provider \"registry.terraform.io/hashicorp/null\" {\n  version     = \"3.2.3\"\n  constraints = \"3.2.3\"\n  hashes = [\n    \"" + hash + "\",\n  ]\n}\n"
}

// warningOnTop fails the test unless the provider warning is the first
// thing under the plan comment's title.
func warningOnTop(t *testing.T, body string) {
	t.Helper()
	lines := strings.Split(body, "\n")
	if len(lines) < 5 || !strings.HasPrefix(lines[1], "### ") || lines[2] != "" || !strings.HasPrefix(lines[3], "> [!CAUTION]") || !strings.Contains(lines[4], swapWarning) {
		t.Errorf("the provider warning is not at the top of the plan comment:\n%s", body)
	}
}

// completedOn waits for the stage's check run on head to be completed
// with a conclusion ok accepts, and returns it as it then is.
func (f *prFlow) completedOn(stage, head string, ok func(conclusion string) bool) githubtest.CheckRun {
	return f.settledCheckRun("stagebot/"+stage, func(c githubtest.CheckRun) bool {
		return c.HeadSHA == head && c.Status == "completed" && ok(c.Conclusion)
	})
}

func anyConclusion(string) bool { return true }

// offersApply reports whether a check run has the Apply button.
func offersApply(cr githubtest.CheckRun) bool {
	for _, a := range cr.Actions {
		if a.Identifier == "apply" {
			return true
		}
	}
	return false
}

func TestProviderSwap(t *testing.T) {
	f, state := mergeFlow(t)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{swapLock: lockOf("h1:trusted=")}, "lock the null provider")

	// A binary in the stage's implied mirror.
	head := f.openUnreviewed(1, providerSwap("swap"), "infrastructure")
	body := f.stageComment(1, "infrastructure", swapWarning)
	warningOnTop(t, body)
	if !strings.Contains(body, "`"+swapPlugin+"`") || !strings.Contains(body, "needs approval by a writer who did not push it") {
		t.Errorf("the warning does not name the plugin or what it needs:\n%s", body)
	}
	if cr := f.completedOn("infrastructure", head, anyConclusion); cr.Conclusion != "neutral" || offersApply(cr) {
		t.Errorf("check run of a plan that ran the PR's provider code: %s, actions %+v", cr.Conclusion, cr.Actions)
	}
	if r := f.reply(1, f.say(1, "alice", "/apply infrastructure")); !strings.Contains(r, "runs provider code from this pull request") {
		t.Errorf("/apply of it, unapproved:\n%s", r)
	}

	// A writer who did not push it approves; the next plan passes.
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.say(1, "alice", "/plan infrastructure")
	body = f.stageComment(1, "infrastructure", "Approved by @carol")
	if !strings.Contains(body, swapWarning) {
		t.Errorf("the approved plan no longer says it ran the PR's provider code:\n%s", body)
	}
	if cr := f.completedOn("infrastructure", head, func(c string) bool { return c == "success" }); cr.Conclusion != "success" || !offersApply(cr) {
		t.Errorf("check run once approved: %s, actions %+v", cr.Conclusion, cr.Actions)
	}
	if stateHas(t, state, "swap") {
		t.Fatal("applied without an apply")
	}

	// Only a hash of the lock file changes.
	head2 := f.openUnreviewed(2, map[string]string{swapLock: lockOf("h1:swapped=")}, "infrastructure")
	body = f.stageComment(2, "infrastructure", swapWarning)
	warningOnTop(t, body)
	if !strings.Contains(body, "`registry.terraform.io/hashicorp/null` hashes changed (1 added, 1 removed)") {
		t.Errorf("the warning does not say what the lock file change admits:\n%s", body)
	}
	if cr := f.completedOn("infrastructure", head2, anyConclusion); cr.Conclusion != "neutral" {
		t.Errorf("check run of a plan with the PR's lock file: %s", cr.Conclusion)
	}
}

// --- the gate matrix's provider-code column ---------------------------------

// relax has main require nothing of an apply: only the provider code gate
// stands between the PR's code and the apply credentials.
func (f *prFlow) relax(t *testing.T) {
	cfg := strings.Replace(quickstartFiles(t)["stagebot.yaml"], "requirements: [approved, mergeable, fresh]", "requirements: []", 1)
	if !strings.Contains(cfg, "requirements: []") {
		t.Fatal("the quickstart's requirements moved")
	}
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": cfg}, "no apply requirements")
}

// openSwap opens alice's PR number from branch from with the provider
// swap, unreviewed, and waits for its plan.
func (f *prFlow) openSwap(number int, from string) string {
	branch := fmt.Sprint("pr-", number)
	head := f.gh.Commit(f.repo, branch, from, providerSwap("swap"), branch)
	f.gh.AddPull(f.repo, githubtest.Pull{Number: number, Author: "alice", HeadRef: branch, HeadSHA: head, BaseRef: "main", BaseSHA: f.base})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, number, "opened", 0))
	f.stageComment(number, "infrastructure", swapWarning)
	return head
}

// providerCodeWarns: the plan of the PR's provider code warns at its top,
// and its check run neutral, without Apply, after autoplan or a /plan.
func providerCodeWarns(cmd string) func(t *testing.T) {
	return func(t *testing.T) {
		f, _ := mergeFlow(t)
		head := f.openSwap(1, "main")
		if cmd != "" {
			f.say(1, "alice", cmd)
			f.stageComment(1, "infrastructure", commandMark(cmd))
			time.Sleep(time.Second)
		}
		warningOnTop(t, f.stageComment(1, "infrastructure", swapWarning))
		if cr := f.completedOn("infrastructure", head, anyConclusion); cr.Conclusion != "neutral" || offersApply(cr) {
			t.Errorf("check run: %s, actions %+v", cr.Conclusion, cr.Actions)
		}
	}
}

// providerCodeApply: under rules that require no approval, the PR's
// provider code is still not applied without one that counts.
func providerCodeApply(button bool) func(t *testing.T) {
	return func(t *testing.T) {
		f, state := mergeFlow(t)
		f.relax(t)
		f.openSwap(1, "main")
		var r string
		if button {
			r = f.reply(1, f.press(1, "stagebot/infrastructure", "alice"))
		} else {
			r = f.reply(1, f.say(1, "alice", "/apply infrastructure"))
		}
		if !strings.Contains(r, "runs provider code from this pull request") || !strings.Contains(r, "whatever the apply requirements say") {
			t.Errorf("an unapproved apply of the PR's provider code:\n%s", r)
		}
		time.Sleep(300 * time.Millisecond)
		if stateHas(t, state, "swap") {
			t.Fatal("applied the PR's provider code without an approval")
		}
	}
}

// providerCodeMerge: a merge of the PR's provider code, unapproved, is
// refused under rules that require no approval, and a lock released later
// does not resume it.
func providerCodeMerge(resumed bool) func(t *testing.T) {
	return func(t *testing.T) {
		f, state := mergeFlow(t)
		f.relax(t)
		from := "main"
		if resumed {
			f.holdLock(9)
			from = "pr-9"
		}
		f.openSwap(1, from)
		f.gh.MergeAs(f.repo, 1, "alice")
		f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
		if body := f.mergeComment(1, "did not apply"); !strings.Contains(body, "runs provider code from this pull request") {
			t.Errorf("merge comment:\n%s", body)
		}
		if resumed {
			f.releaseLock(9)
		}
		if stateHas(t, state, "swap") {
			t.Fatal("a merge of the PR's provider code was applied without an approval")
		}
	}
}
