package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// sharedStateRepo is a repository of one stage whose state lives in one
// file outside the checkouts (as a remote backend's does), with a resource
// already applied; code(extra) is the stage with extra HCL.
func sharedStateRepo(t *testing.T) (*githubtest.Server, *githubtest.Repo, string, func(string) string) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := filepath.Join(t.TempDir(), "infrastructure.tfstate")
	code := func(extra string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\nresource \"terraform_data\" \"base\" {\n  input = \"base\"\n}\n%s", state, extra)
	}
	applyByHand(t, code(""))
	for _, u := range []string{"alice", "dave"} {
		gh.SetPermission(repo, u, "write")
	}
	return gh, repo, state, code
}

// 20 PRs that each change the same stage, opened at once while its state
// lock is held: every one is planned, with its own change, and none fails
// on the lock (plans take none).
func TestTwentyPRsPlanAtOnce(t *testing.T) {
	gh, repo, state, code := sharedStateRepo(t)
	// Someone holds the state lock (an apply, a person with terraform) for
	// as long as the PRs are planned: the local backend's lock is an fcntl
	// lock on the state file.
	held, err := os.OpenFile(state, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := syscall.FcntlFlock(held.Fd(), syscall.F_SETLK, &syscall.Flock_t{Type: syscall.F_WRLCK}); err != nil {
		t.Fatal(err)
	}
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n",
		"terraform/infrastructure/main.tf": code(""),
	}, "init")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, t.TempDir()))}
	const prs = 20
	for n := 1; n <= prs; n++ {
		head := gh.Commit(repo, fmt.Sprint("pr-", n), "main", map[string]string{
			"terraform/infrastructure/main.tf": code(fmt.Sprintf("resource \"terraform_data\" \"pr%d\" {\n  input = %d\n}\n", n, n)),
		}, fmt.Sprint("pr ", n))
		gh.AddPull(repo, githubtest.Pull{Number: n, Author: "alice", HeadRef: fmt.Sprint("pr-", n), HeadSHA: head, BaseRef: "main", BaseSHA: base})
	}
	start := time.Now()
	var wg sync.WaitGroup
	for n := 1; n <= prs; n++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f.deliver("pull_request", gh.PullRequestPayload(repo, n, "opened", 0))
		}()
	}
	wg.Wait()
	planned := func(n int) (string, bool) {
		for _, c := range gh.BotComments(repo, n) {
			if strings.Contains(c.Body, "<!-- stagebot:stage=infrastructure -->") && (strings.Contains(c.Body, "to add") || strings.Contains(c.Body, "The plan failed")) {
				return c.Body, true
			}
		}
		return "", false
	}
	eventually(t, 5*time.Minute, "20 plans", func() bool {
		for n := 1; n <= prs; n++ {
			if _, ok := planned(n); !ok {
				return false
			}
		}
		return true
	})
	self, children := cpuOf(t, f.bot.cmd.Process.Pid)
	t.Logf("20 PRs planned in %s; CPU: the bot %s, what it ran (Terraform, git) %s", time.Since(start).Round(time.Millisecond), self, children)
	for n := 1; n <= prs; n++ {
		body, _ := planned(n)
		if !strings.Contains(body, "+1 to add") || !strings.Contains(body, fmt.Sprintf("`terraform_data.pr%d`", n)) || strings.Contains(body, "The plan failed") {
			t.Errorf("#%d's plan:\n%s", n, body)
		}
	}
}

// A plan made stale by another PR's apply is refused when applied: Terraform
// applies nothing, and the PR is told to plan again; the new plan applies.
func TestStalePlanRefusedAtApply(t *testing.T) {
	gh, repo, state, code := sharedStateRepo(t)
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n  on_merge: false\n",
		"terraform/infrastructure/main.tf": code(""),
	}, "init")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, t.TempDir()))}
	f.open(1, "alice", map[string]string{"terraform/infrastructure/main.tf": code("resource \"terraform_data\" \"one\" {\n  input = 1\n}\n")}, 1)
	f.open(2, "dave", map[string]string{"terraform/infrastructure/main.tf": code("resource \"terraform_data\" \"two\" {\n  input = 2\n}\n")}, 1)
	f.stageComment(1, "infrastructure", "+1 to add")
	f.stageComment(2, "infrastructure", "+1 to add")
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied")
	gh.UpdatePull(repo, 1, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "closed", 0))
	eventually(t, 20*time.Second, "#1's lock released", func() bool { return strings.Contains(f.bot.Logs(), `"released":["infrastructure"]`) })

	// #2's plan predates #1's apply.
	f.say(2, "dave", "/apply infrastructure")
	body := f.stageComment(2, "infrastructure", "apply failed")
	if !strings.Contains(body, "**The plan is stale:**") || !strings.Contains(body, "Comment `/plan infrastructure`, review the new plan, then `/apply infrastructure`") || !strings.Contains(body, "Saved plan is stale") {
		t.Errorf("the stale apply's comment:\n%s", body)
	}
	if stateHas(t, filepath.Dir(state), "two") {
		t.Fatal("a stale plan was applied")
	}
	// The new plan is made against what #1 applied: #2's branch lacks
	// #1's resource, and its plan says it would destroy it.
	f.say(2, "dave", "/plan infrastructure")
	if body := f.stageComment(2, "infrastructure", "+1 to add, ~0 to change, -1 to destroy"); !strings.Contains(body, "`terraform_data.one`") {
		t.Errorf("the new plan does not show #1's resource going:\n%s", body)
	}
	f.say(2, "dave", "/apply infrastructure")
	f.stageComment(2, "infrastructure", "✅ stagebot applied")
	if !stateHas(t, filepath.Dir(state), "two") || stateHas(t, filepath.Dir(state), "one") {
		t.Error("the new plan was not what was applied")
	}
}

// A state backend that fails for a moment (503) fails the plan's first
// attempt; the bot plans again after a wait and the PR gets the plan, not
// a failure.
func TestTransientBackendFailureRetried(t *testing.T) {
	var calls atomic.Int32
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 4 { // more than Terraform's own retries
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodGet {
			http.NotFound(w, r) // no state yet
		}
	})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := &http.Server{Handler: backend}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	gh.SetPermission(repo, "alice", "write")
	stage := fmt.Sprintf("terraform {\n  backend \"http\" {\n    address        = \"http://%s/state\"\n    retry_max      = 1\n    retry_wait_min = 0\n    retry_wait_max = 0\n  }\n}\n", ln.Addr())
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n",
		"terraform/infrastructure/main.tf": stage,
	}, "init")
	data := t.TempDir()
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, append(autoplanEnv(gh, data), "STAGEBOT_PLAN_RETRY_WAIT=1s"))}
	f.open(1, "alice", map[string]string{"terraform/infrastructure/main.tf": stage + "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"}, 1)
	body := f.stageComment(1, "infrastructure", "to add")
	if !strings.Contains(body, "+1 to add") || strings.Contains(body, "The plan failed") {
		t.Errorf("the plan after a busy backend:\n%s", body)
	}
	retried := false
	for _, log := range terraformLogs(data) {
		retried = retried || strings.Contains(log, "planning again in 1s (retry 1 of 3)")
	}
	if !retried || calls.Load() <= 4 {
		t.Errorf("the plan was not retried (%d backend calls)", calls.Load())
	}
}

// cpuOf is the CPU time process pid used itself and what its children it
// waited for used (/proc/<pid>/stat: utime+stime, cutime+cstime).
func cpuOf(t *testing.T, pid int) (self, children time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command's closing parenthesis: state is the
	// 3rd field, utime the 14th.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	tick := func(i int) time.Duration {
		n, _ := strconv.Atoi(f[i-3])
		return time.Duration(n) * time.Second / 100 // USER_HZ
	}
	return tick(14) + tick(15), tick(16) + tick(17)
}
