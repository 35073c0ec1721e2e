package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// mergeFlow is the quickstart with its state in one shared directory (as a
// remote backend's), a writer alice, a maintainer carol and a reader eve.
func mergeFlow(t *testing.T, extraEnv ...string) (*prFlow, string) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	base := gh.Commit(repo, "main", "", stateIn(quickstartTree(t), state), "quickstart")
	for user, role := range map[string]string{"alice": "write", "carol": "maintain", "eve": "read"} {
		gh.SetPermission(repo, user, role)
	}
	env := append(autoplanEnv(gh, t.TempDir()), extraEnv...)
	return &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}, state
}

// branch commits files on a new branch from "from" and opens PR number on it,
// approved by carol, and waits for its plan comments.
func (f *prFlow) pr(number int, from string, files map[string]string, base string, comments int) string {
	branch := fmt.Sprint("pr-", number)
	head := f.gh.Commit(f.repo, branch, from, files, branch)
	f.gh.AddPull(f.repo, githubtest.Pull{Number: number, Author: "alice", HeadRef: branch, HeadSHA: head, BaseRef: "main", BaseSHA: base})
	f.gh.AddReview(f.repo, number, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, number, "opened", 0))
	eventually(f.t, 60*time.Second, "the plan comments", func() bool { return len(f.gh.BotComments(f.repo, number)) >= comments })
	return head
}

func resource(name string) map[string]string {
	return map[string]string{"terraform/infrastructure/" + name + ".tf": fmt.Sprintf("resource \"terraform_data\" %q {\n  input = %q\n}\n", name, name)}
}

// stateHas reports whether the infrastructure state holds a resource.
func stateHas(t *testing.T, state, name string) bool {
	return stateHasIn(t, filepath.Join(state, "infrastructure.tfstate"), name)
}

// stateHasIn reports whether the state file holds a resource.
func stateHasIn(t *testing.T, file, name string) bool {
	b, _ := os.ReadFile(file)
	return strings.Contains(string(b), fmt.Sprintf(`"name": %q`, name))
}

// mergeComment waits for the PR's comment with the merge marker.
func (f *prFlow) mergeComment(number int, want string) string {
	var body string
	eventually(f.t, 60*time.Second, "the merge comment with "+want, func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			if strings.Contains(c.Body, "<!-- stagebot:merge -->") && strings.Contains(c.Body, want) {
				body = c.Body
				return true
			}
		}
		return false
	})
	return body
}

// mergeUnapproved has alice merge PR number and fails the test unless the
// bot refuses the merge because its head was not approved.
func (f *prFlow) mergeUnapproved(t *testing.T, number int) {
	t.Helper()
	f.gh.MergeAs(f.repo, number, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, number, "closed", 0))
	if body := f.mergeComment(number, "did not apply"); !strings.Contains(body, "its head was not approved") {
		t.Errorf("merge comment of #%d:\n%s", number, body)
	}
}

// A merge into another branch than the default one applies nothing, and
// the PR is told why.
func TestMergeIntoOtherBranchAppliesNothing(t *testing.T) {
	f, state := mergeFlow(t)
	f.gh.Commit(f.repo, "sandbox", "main", map[string]string{"README.md": "sandbox\n"}, "sandbox")
	head := f.gh.Commit(f.repo, "pr-1", "main", resource("sneaky"), "sneaky")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "sandbox", BaseSHA: f.base})
	f.gh.MergeAs(f.repo, 1, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	body := f.mergeComment(1, "did not apply")
	if !strings.Contains(body, "merged into `sandbox`, not into the default branch `main`") {
		t.Errorf("the refusal does not say why:\n%s", body)
	}
	time.Sleep(500 * time.Millisecond)
	if stateHas(t, state, "sneaky") {
		t.Fatal("a merge into sandbox was applied")
	}
}

// A merge whose head nobody who may write approved is not applied: an
// outsider's approval does not count, and neither does the merger's role
// alone when approval is required. /apply says the same.
func TestOutsiderApprovalDoesNotCount(t *testing.T) {
	f, state := mergeFlow(t)
	head := f.gh.Commit(f.repo, "pr-1", "main", resource("a"), "a")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, MergeableState: "clean"})
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "eve", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "to add")
	id := f.say(1, "alice", "/apply infrastructure")
	if r := f.reply(1, id); !strings.Contains(r, "Reviews by @eve do not count") {
		t.Errorf("/apply with an outsider's approval:\n%s", r)
	}
	// An outsider cannot block either.
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "eve", State: "CHANGES_REQUESTED", CommitID: head})
	f.gh.AddReview(f.repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.gh.MergeAs(f.repo, 1, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !stateHas(t, state, "a") {
		t.Error("the approved merge was not applied")
	}

	// A second PR approved only by eve is merged: nothing is applied.
	head2 := f.gh.Commit(f.repo, "pr-2", "main", resource("b"), "b")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "pr-2", HeadSHA: head2, BaseRef: "main", BaseSHA: head})
	f.gh.AddReview(f.repo, 2, githubtest.Review{User: "eve", State: "APPROVED", CommitID: head2})
	f.mergeUnapproved(t, 2)
	if stateHas(t, state, "b") {
		t.Fatal("a merge approved only by an outsider was applied")
	}
}

// Two merges whose close events arrive newest first: the newer merge
// commit, the tip, is applied (it holds both changes); the older is
// superseded and never applied, so nothing is rolled back.
func TestOutOfOrderMerges(t *testing.T) {
	f, state := mergeFlow(t)
	f.pr(1, "main", resource("one"), f.base, 1)
	f.pr(2, "main", resource("two"), f.base, 1)
	m1 := f.gh.MergeAs(f.repo, 1, "carol")
	m2 := f.gh.MergeAs(f.repo, 2, "carol")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "closed", 0))
	f.stageComment(2, "infrastructure", "✅ stagebot applied `infrastructure`")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	body := f.mergeComment(1, "superseded")
	if !strings.Contains(body, m2[:7]) || !strings.Contains(body, m1[:7]) {
		t.Errorf("superseded comment:\n%s", body)
	}
	if !stateHas(t, state, "one") || !stateHas(t, state, "two") {
		t.Fatal("the older merge rolled back the newer one, or the newer lost the older's change")
	}
	// The same merge announced again, in a body of its own under a new
	// delivery id (an identical body is refused at the webhook as a
	// replay), does nothing.
	before := len(f.gh.Requests())
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "closed", 1))
	eventually(t, 10*time.Second, "the replay to be handled", func() bool { return strings.Contains(f.bot.Logs(), "merge already handled") })
	for _, r := range f.gh.Requests()[before:] {
		if r.Method == "POST" && strings.Contains(r.Path, "/comments") {
			t.Errorf("the replayed merge posted %s", r.Path)
		}
	}
}

// A merge blocked by another PR's lock waits, shown on the PR and on the
// merge commit's check run, and is applied when the lock is released.
func TestLockBlockedMergeIsAppliedLater(t *testing.T) {
	f, state := mergeFlow(t)
	f.pr(1, "main", resource("first"), f.base, 1)
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	// #2 stacks on #1 and is merged while #1 holds the lock.
	f.pr(2, "pr-1", resource("second"), f.base, 1)
	m2 := f.gh.MergeAs(f.repo, 2, "carol")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "closed", 0))
	body := f.stageComment(2, "infrastructure", "it waits")
	if !strings.Contains(body, "locked by #1") {
		t.Errorf("waiting comment:\n%s", body)
	}
	eventually(t, 10*time.Second, "a queued check run on the merge commit", func() bool {
		for _, c := range f.gh.CheckRuns(f.repo) {
			if c.HeadSHA == m2 && c.Name == "stagebot/infrastructure" && c.Status == "queued" {
				return true
			}
		}
		return false
	})
	if stateHas(t, state, "second") {
		t.Fatal("the merge was applied while another PR held the lock")
	}
	// #1 is closed: its lock goes, and the waiting merge is applied.
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	f.stageComment(2, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !stateHas(t, state, "second") || !stateHas(t, state, "first") {
		t.Error("the waiting merge was not applied, or lost #1's change")
	}
}

// A retried /apply after a failed comment edit applies nothing no one saw:
// the first run applied infrastructure and saved a plan of platform whose
// comment could not be posted; the retry reports infrastructure's apply,
// posts platform's plan, and stops there.
func TestRetriedApplyAppliesNothingUnseen(t *testing.T) {
	f, state := mergeFlow(t)
	head := f.pr(1, "main", map[string]string{
		"terraform/infrastructure/x.tf": "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
		"terraform/platform/p.tf":       "resource \"terraform_data\" \"p\" {\n  input = 1\n}\n",
	}, f.base, 2)
	var platformID int64
	for _, c := range f.gh.BotComments(f.repo, 1) {
		if strings.Contains(c.Body, "<!-- stagebot:stage=platform -->") {
			platformID = c.ID
		}
	}
	// Every edit of platform's comment fails for a while: more than the
	// client retries, so the job fails and River runs it again.
	f.gh.FailNext("PATCH", fmt.Sprintf("/issues/comments/%d", platformID), 5, githubtest.ServerError)
	f.say(1, "alice", "/apply")
	// The retry posts platform's plan, which the first run could not.
	f.stageComment(1, "platform", "to add")
	eventually(t, 10*time.Second, "the retried job to end", func() bool { return strings.Contains(f.bot.Logs(), `"attempt":2,"duration_ms"`) })
	b, _ := os.ReadFile(filepath.Join(state, "platform.tfstate"))
	if strings.Contains(string(b), `"name": "p"`) {
		t.Fatal("the retry applied platform, whose plan nobody had seen")
	}
	if !stateHas(t, state, "x") {
		t.Fatal("infrastructure was not applied")
	}
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if strings.Count(f.bot.Logs(), `"msg":"applied"`) != 1 {
		t.Errorf("infrastructure applied %d times", strings.Count(f.bot.Logs(), `"msg":"applied"`))
	}
	// Now that its plan is shown, platform applies.
	f.say(1, "alice", "/apply platform")
	f.stageComment(1, "platform", "✅ stagebot applied `platform`")
	_ = head
}

// SIGTERM during an apply: past the shutdown bound Terraform gets SIGINT,
// stops gracefully (its state written, its lock released), and the bot
// waits for it before it exits. After a restart the stage is planned and
// applied again.
func TestSIGTERMDuringApply(t *testing.T) {
	marks := t.TempDir()
	f, _ := mergeFlow(t, "STAGEBOT_SHUTDOWN_TIMEOUT=1s")
	slow := fmt.Sprintf("resource \"terraform_data\" \"slow\" {\n  provisioner \"local-exec\" {\n    command = \"echo started >> %s/log; if [ ! -e %s/fast ]; then exec sleep 60; fi; echo done >> %s/log\"\n  }\n}\n", marks, marks, marks)
	f.pr(1, "main", map[string]string{"terraform/infrastructure/slow.tf": slow}, f.base, 1)
	f.say(1, "alice", "/apply infrastructure")
	eventually(t, 30*time.Second, "the apply to start", func() bool {
		b, _ := os.ReadFile(filepath.Join(marks, "log"))
		return strings.Contains(string(b), "started")
	})
	start := time.Now()
	f.bot.stop()
	took := time.Since(start)
	if code := f.bot.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if out, _ := exec.Command("pgrep", "-f", "terraform apply").Output(); len(out) > 0 {
		t.Errorf("Terraform outlived the bot: pids %s", out)
	}
	if !strings.Contains(f.bot.Logs(), "Interrupt received") && !strings.Contains(f.bot.Logs(), "apply failed") {
		t.Errorf("the apply did not stop through SIGINT:\n%s", f.bot.Logs())
	}
	body := f.stageComment(1, "infrastructure", "apply failed")
	if !strings.Contains(body, "stagebot was stopping: Terraform was interrupted (SIGINT) and stopped gracefully") || !strings.Contains(body, "Gracefully shutting down") {
		t.Errorf("the apply comment does not say it was stopped:\n%s", body)
	}
	t.Logf("stopped in %s", took)
	// Restart: no interrupted apply is left behind; the state is not locked,
	// so a new plan and apply go through.
	os.WriteFile(filepath.Join(marks, "fast"), nil, 0o644)
	f.bot = startBot(t, append(autoplanEnv(f.gh, f.bot.dataDir()), "STAGEBOT_SHUTDOWN_TIMEOUT=1s"))
	f.say(1, "alice", "/plan infrastructure")
	f.stageComment(1, "infrastructure", "stagebot plan")
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if strings.Contains(f.bot.Logs(), "was interrupted") {
		t.Error("the restarted bot found an interrupted apply")
	}
}

// kill -9 during an apply on merge: after the restart the stage is not
// applied twice, and the merge is not lost: the PR is told what happened
// and how to go on.
func TestKill9DuringApplyOnMerge(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "applied.log")
	f, _ := mergeFlow(t)
	slow := fmt.Sprintf("resource \"terraform_data\" \"slow\" {\n  provisioner \"local-exec\" {\n    command = \"echo applied >> %s; sleep 5\"\n  }\n}\n", marks)
	f.pr(1, "main", map[string]string{"terraform/infrastructure/slow.tf": slow}, f.base, 1)
	f.gh.MergeAs(f.repo, 1, "carol")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "closed", 0))
	eventually(t, 30*time.Second, "the apply on merge to start", func() bool {
		b, _ := os.ReadFile(marks)
		return len(b) > 0
	})
	data := f.bot.dataDir()
	f.bot.kill9()
	f.bot = startBot(t, autoplanEnv(f.gh, data))
	body := f.stageComment(1, "infrastructure", "was interrupted")
	if !strings.Contains(body, "does not apply again on its own") {
		t.Errorf("interrupted comment:\n%s", body)
	}
	time.Sleep(7 * time.Second)
	if b, _ := os.ReadFile(marks); strings.Count(string(b), "applied") != 1 {
		t.Fatalf("the provisioner ran %d times, want 1", strings.Count(string(b), "applied"))
	}
}
