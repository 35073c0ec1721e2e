package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// instancesPushed is how many tenants TestInstancePushGitHubCalls's push
// plans.
const instancesPushed = 500

// A push that changes the module 500 tenants call costs at most 20 GitHub
// API calls, whatever the number of instances: one check run for the
// stage, whose summary is the instance table, and one comment composed
// once. Counted at the fake GitHub, every request but git's own.
func TestInstancePushGitHubCalls(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := t.TempDir(), t.TempDir()
	var tenants []string
	for i := range instancesPushed {
		tenants = append(tenants, fmt.Sprintf("t%03d", i))
	}
	base := gh.Commit(repo, "main", "", instanceRepo(state, tenants...), "tenants")
	gh.SetPermission(repo, "alice", "write")
	env := append(botEnv(gh, data), "STAGEBOT_INSTANCE_PARALLELISM=2", "STAGEBOT_MAX_INSTANCES=500", "STAGEBOT_JOB_TIMEOUT=30m")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/modules/site/main.tf": siteModule("v2")}, "v2")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	before := len(gh.Requests())
	start := time.Now()
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	eventually(t, 15*time.Minute, "the plans", func() bool { return slices.Contains(f.checkNames(head), "stagebot/apply") })
	t.Logf("%d instances planned in %s; the bot's peak RSS: %d MiB", instancesPushed, time.Since(start).Round(100*time.Millisecond), peakRSS(t, f.bot.cmd.Process.Pid)>>20)

	c := f.checkRun("stagebot/tenant")
	if c.Status != "completed" || c.Conclusion != "success" || !strings.Contains(c.Title, fmt.Sprint(instancesPushed, " instances")) {
		t.Errorf("the stage's check run: %s %s %q", c.Status, c.Conclusion, c.Title)
	}
	for _, n := range []string{"t000", "t499"} {
		if !strings.Contains(c.Summary, "`"+n+"`") {
			t.Errorf("the check run's instance table lacks %s:\n%.2000s", n, c.Summary)
		}
	}
	if got := f.checkNames(head); !slices.Equal(got, []string{"stagebot/apply", "stagebot/tenant"}) {
		t.Errorf("check runs: %v, want the stage's and the apply's alone", got)
	}
	body := f.stageComment(1, "tenant", fmt.Sprint(instancesPushed, " instance(s)"))
	if !strings.Contains(body, "`t499`") {
		t.Errorf("the comment lacks the last tenant:\n%.2000s", body)
	}

	calls := map[string]int{}
	total := 0
	for _, r := range gh.Requests()[before:] {
		if isGitTransport(r.Path) {
			continue
		}
		calls[r.Method+" "+callShape(r.Path)]++
		total++
	}
	var breakdown strings.Builder
	for _, k := range slices.Sorted(maps.Keys(calls)) {
		fmt.Fprintf(&breakdown, "\n  %3d %s", calls[k], k)
	}
	t.Logf("%d GitHub API calls for a %d-instance push:%s", total, instancesPushed, breakdown.String())
	if total > 20 {
		t.Errorf("%d GitHub API calls, want at most 20:%s", total, breakdown.String())
	}
}

// peakRSS is process pid's peak resident set (VmHWM) in bytes, as the
// kernel says.
func peakRSS(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// isGitTransport reports whether path is git's smart HTTP, not the API.
func isGitTransport(path string) bool {
	return strings.HasSuffix(path, "/info/refs") || strings.HasSuffix(path, "/git-upload-pack")
}

var callIDs = regexp.MustCompile(`/[0-9a-f]{40}|/\d+`)

// callShape is path with its numbers and SHAs as placeholders.
func callShape(path string) string { return callIDs.ReplaceAllString(path, "/:id") }

// With STAGEBOT_INSTANCE_CHECK_RUNS at 2, three tenants planned share the
// stage's check run: its table shows each, its conclusion is theirs, an
// instance's /apply shows in it (no check run of the instance's own), and
// its Apply button applies every instance.
func TestInstancesShareTheStageCheckRun(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := t.TempDir(), t.TempDir()
	base := gh.Commit(repo, "main", "", instanceRepo(state, "acme", "globex", "initech"), "three tenants")
	for _, u := range []string{"alice", "dave"} {
		gh.SetPermission(repo, u, "write")
	}
	env := append(botEnv(gh, data), "STAGEBOT_INSTANCE_CHECK_RUNS=2")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	head := f.open(1, "alice", map[string]string{"terraform/modules/site/main.tf": siteModule("v2")}, 1)
	c := f.settledCheckRun("stagebot/tenant", func(c githubtest.CheckRun) bool { return c.Status == "completed" })
	if c.Conclusion != "success" || !strings.HasPrefix(c.Title, "3 instances: 3 to apply") {
		t.Fatalf("the shared check run: %s %q", c.Conclusion, c.Title)
	}
	for _, n := range []string{"acme", "globex", "initech"} {
		if !strings.Contains(c.Summary, "| `"+n+"` | 📝 plan at "+head[:7]+": +1 to add") {
			t.Errorf("the shared check run lacks %s's row:\n%s", n, c.Summary)
		}
	}
	// The job ends with the stagebot/apply check run, after the stage's.
	eventually(t, time.Minute, "the apply check run", func() bool { return slices.Contains(f.checkNames(head), "stagebot/apply") })
	if got := f.checkNames(head); !slices.Equal(got, []string{"stagebot/apply", "stagebot/tenant"}) {
		t.Errorf("check runs: %v", got)
	}

	gh.AddReview(repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: head})
	f.say(1, "alice", "/apply tenant:acme")
	f.stageComment(1, "tenant", "| `acme` | ✅ applied")
	c = f.settledCheckRun("stagebot/tenant", func(c githubtest.CheckRun) bool {
		return c.Status == "completed" && strings.Contains(c.Summary, "| `acme` | ✅ applied")
	})
	if !strings.Contains(c.Summary, "| `acme` | ✅ applied") || c.Conclusion != "success" || !strings.HasPrefix(c.Title, "3 instances: 2 to apply") {
		t.Errorf("the shared check run after acme's apply: %s %q\n%s", c.Conclusion, c.Title, c.Summary)
	}
	if got := f.checkNames(head); !slices.Equal(got, []string{"stagebot/apply", "stagebot/tenant"}) {
		t.Errorf("check runs after an instance's apply: %v", got)
	}

	// Its Apply button applies the rest.
	before := len(gh.Requests())
	f.press(1, "stagebot/tenant", "alice")
	f.stageComment(1, "tenant", "| `initech` | ✅ applied")
	t.Logf("the Apply button's two applies: %d GitHub requests", len(gh.Requests())-before)
	for _, n := range []string{"acme", "globex", "initech"} {
		if _, err := os.Stat(filepath.Join(state, "tenant-"+n+".tfstate")); err != nil {
			t.Errorf("%s was not applied: %v", n, err)
		}
	}
	c = f.settledCheckRun("stagebot/tenant", func(c githubtest.CheckRun) bool {
		return c.Status == "completed" && strings.HasPrefix(c.Title, "3 instances: 0 to apply")
	})
	if c.Conclusion != "neutral" || !strings.HasPrefix(c.Title, "3 instances: 0 to apply") {
		t.Errorf("the shared check run after every apply: %s %q", c.Conclusion, c.Title)
	}
}
