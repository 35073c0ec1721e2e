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

// applyByHand applies stage code to the state with Terraform, as someone
// with the credentials would behind the bot's back.
func applyByHand(t *testing.T, code string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(code), 0o644)
	for _, args := range [][]string{{"init", "-input=false"}, {"apply", "-auto-approve", "-input=false"}} {
		cmd := exec.Command(terraformBin(), args...)
		cmd.Dir = dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("terraform %s by hand: %v\n%s", args[0], err, out)
		}
	}
}

// TestDriftIssue: a change applied behind the bot's back yields a drift
// issue, a failing stagebot/drift check on the default branch, a gauge and
// a warning in PR plans; a check that finds the same drift leaves the issue
// alone; reverting the change closes it. The schedule runs checks by
// itself, and /drift needs the write role.
func TestDriftIssue(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := filepath.Join(t.TempDir(), "infrastructure.tfstate")
	code := func(input string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\nresource \"terraform_data\" \"web\" {\n  input = %q\n}\n", state, input)
	}
	cfg := "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\ndrift:\n  schedule: \"@every 3s\"\n"
	tip := gh.Commit(repo, "main", "", map[string]string{"stagebot.yaml": cfg, "terraform/infrastructure/main.tf": code("v1")}, "init")
	applyByHand(t, code("v1")) // deployed as on main
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "bob", "read")
	f := &prFlow{t: t, gh: gh, repo: repo, base: tip, bot: startBot(t, append(autoplanEnv(gh, t.TempDir()), "STAGEBOT_DRIFT_TICK=1s"))}
	ask := gh.AddIssue(repo, "alice", "Is production what main says?")
	drift := func(user string) string {
		id := gh.AddComment(repo, ask, user, "/drift")
		f.deliver("issue_comment", gh.IssueCommentPayload(repo, ask, id))
		return f.reply(ask, id)
	}
	driftIssues := func() []githubtest.Issue {
		var out []githubtest.Issue
		for _, is := range gh.Issues(repo) {
			if len(is.Labels) == 1 && is.Labels[0] == "stagebot-drift" {
				out = append(out, is)
			}
		}
		return out
	}

	if r := drift("alice"); !strings.Contains(r, "`infrastructure`: no drift") || len(driftIssues()) != 0 {
		t.Fatalf("no drift yet, but: %s (%d issues)", r, len(driftIssues()))
	}
	if r := drift("bob"); !strings.Contains(r, "bob") || !strings.Contains(r, "write") {
		t.Errorf("/drift by a reader: %s", r)
	}

	// Someone changes production by hand.
	applyByHand(t, code("v2-by-hand"))
	r := drift("alice")
	issues := driftIssues()
	if len(issues) != 1 || issues[0].State != "open" || !strings.Contains(r, fmt.Sprintf("**drift** (1 change(s)), see #%d", issues[0].Number)) {
		t.Fatalf("after a change by hand: %s; issues %+v", r, issues)
	}
	issue := issues[0]
	for _, want := range []string{"`infrastructure` has drifted from `main`", "~1 to change", "update in place `terraform_data.web`", "v2-by-hand"} {
		if !strings.Contains(issue.Body, want) {
			t.Errorf("drift issue lacks %q:\n%s", want, issue.Body)
		}
	}
	var check githubtest.CheckRun
	for _, c := range gh.CheckRuns(repo) {
		if c.Name == "stagebot/drift" && c.HeadSHA == tip {
			check = c
		}
	}
	if check.Conclusion != "failure" || !strings.Contains(check.Summary, fmt.Sprintf("#%d", issue.Number)) {
		t.Errorf("stagebot/drift on main: %+v", check)
	}
	if got := metric(t, f.bot, `stagebot_drift_changes{repo="acme/platform",stage="infrastructure"}`); got != 1 {
		t.Errorf("drift gauge = %v, want 1", got)
	}

	// The schedule checks by itself; finding the same drift, it leaves the
	// issue alone.
	eventually(t, 30*time.Second, "a scheduled drift check", func() bool {
		return strings.Contains(f.bot.Logs(), `"kind":"drift","attempt":1}`) && strings.Contains(f.bot.Logs(), `"msg":"drift checked"`)
	})
	drift("alice")
	if is := driftIssues(); len(is) != 1 || is[0].Updates != 0 || is[0].Body != issue.Body {
		t.Errorf("a check that found the same drift changed the issue: %+v", is)
	}

	// A PR's plan of the stage says it includes someone else's change.
	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/infrastructure/extra.tf": "resource \"terraform_data\" \"extra\" {\n  input = 1\n}\n"}, "extra")
	gh.AddPull(repo, githubtest.Pull{Number: 90, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseSHA: tip})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 90, "opened", 0))
	if body := f.stageComment(90, "infrastructure", "to add"); !strings.Contains(body, fmt.Sprintf("has drifted** (#%d)", issue.Number)) {
		t.Errorf("the PR plan does not warn of the drift:\n%s", body)
	}

	// The change is reverted: the issue is closed, with a word why.
	applyByHand(t, code("v1"))
	if r := drift("alice"); !strings.Contains(r, "no drift") {
		t.Errorf("after the revert: %s", r)
	}
	if is := driftIssues(); len(is) != 1 || is[0].State != "closed" {
		t.Fatalf("the drift issue was not closed: %+v", is)
	}
	closing := gh.BotComments(repo, issue.Number)
	if len(closing) != 1 || !strings.Contains(closing[0].Body, "no drift. Closing") {
		t.Errorf("closing comment: %+v", closing)
	}
	if got := metric(t, f.bot, `stagebot_drift_changes{repo="acme/platform",stage="infrastructure"}`); got != 0 {
		t.Errorf("drift gauge = %v after the revert, want 0", got)
	}
}
