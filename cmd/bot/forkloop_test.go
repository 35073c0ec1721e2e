package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// TestForkLoopProviderCannotReachTheNextRun is issue 23's attack, through
// the binary: a PR's provider forks continuously and lurks; then another
// PR is applied with the apply credentials, on the same uid when the pool
// has one. The apply's environment is never read, the loot file never
// appears, and no process of the sandbox's uids is left once a run ends,
// as seen from outside the sandbox.
func TestForkLoopProviderCannotReachTheNextRun(t *testing.T) {
	for _, pool := range []string{"40000-40063", "40100-40100"} {
		t.Run(pool, func(t *testing.T) {
			gh := githubtest.New(t)
			repo := gh.AddRepo("acme", "platform")
			data, state := sandboxtest.ReachableDir(t), sandboxtest.SharedDir(t, sandboxGID)
			loot := sandboxtest.Loot(t)
			backend := fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, "infrastructure.tfstate"))
			base := gh.Commit(repo, "main", "", map[string]string{
				"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n",
				"terraform/infrastructure/main.tf": backend,
			}, "init")
			gh.SetPermission(repo, "mallory", "write")
			gh.SetPermission(repo, "alice", "write")
			env := append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin(), "STAGEBOT_SANDBOX=uid", "STAGEBOT_SANDBOX_UIDS="+pool,
				"STAGEBOT_APPLY_ENV=IONOS_TOKEN=ADMIN_TOKEN", "ADMIN_TOKEN=apply-token-admin-do-not-leak")
			f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}
			// Should the sandbox fail, nothing of the attack outlives the test.
			t.Cleanup(func() { killPool(pool) })

			f.pr(1, "main", map[string]string{
				"terraform/infrastructure/main.tf": backend + "terraform {\n  required_providers {\n    lurk = {\n      source = \"example.com/evil/lurk\"\n    }\n  }\n}\nprovider \"lurk\" {}\n",
				"exec:terraform/infrastructure/terraform.d/plugins/example.com/evil/lurk/1.0.0/linux_amd64/terraform-provider-lurk_v1.0.0": sandboxtest.PidHopper("apply-token-admin", loot),
			}, base, 0)
			body := f.stageComment(1, "infrastructure", "plan")
			if !strings.Contains(body, "lurk") {
				t.Fatalf("the hostile provider was not started:\n%s", body)
			}
			noProcessOf(t, pool)

			f.pr(2, "main", map[string]string{"terraform/infrastructure/main.tf": backend + "resource \"terraform_data\" \"x\" {\n  input = \"honest\"\n}\n"}, base, 0)
			f.stageComment(2, "infrastructure", "+1 to add")
			noProcessOf(t, pool)
			f.say(2, "alice", "/apply")
			f.stageComment(2, "infrastructure", "✅ stagebot applied `infrastructure`")
			time.Sleep(500 * time.Millisecond)
			noProcessOf(t, pool)
			if b, err := os.ReadFile(loot); err == nil {
				t.Fatalf("the hostile provider read the apply's environment: %.80q", b)
			}
			if strings.Contains(f.bot.Logs(), "quarantined") {
				t.Errorf("a uid was quarantined:\n%s", f.bot.Logs())
			}
		})
	}
}

// killPool kills every process of the uids of a range, as the sandbox
// does: the bot's binary as each uid's own killer.
func killPool(uids string) {
	a, b, _ := strings.Cut(uids, "-")
	first, _ := strconv.Atoi(a)
	last, _ := strconv.Atoi(b)
	for uid := first; uid <= last; uid++ {
		cmd := exec.Command(botBin)
		cmd.Env = []string{"STAGEBOT_SANDBOX_KILL=" + strconv.Itoa(uid)}
		cmd.Run()
	}
}

// noProcessOf fails the test when any process (a zombie aside) runs as a
// uid of the range, seen from outside the sandbox.
func noProcessOf(t *testing.T, uids string) {
	t.Helper()
	a, b, _ := strings.Cut(uids, "-")
	first, _ := strconv.Atoi(a)
	last, _ := strconv.Atoi(b)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		status, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		var uid int
		var state string
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:"); ok {
				uid, _ = strconv.Atoi(strings.Fields(v)[0])
			}
			if v, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(v)
			}
		}
		if uid >= first && uid <= last && !strings.HasPrefix(state, "Z") {
			t.Fatalf("pid %s of sandbox uid %d is still running after its run: %s", e.Name(), uid, strings.SplitN(string(status), "\n", 2)[0])
		}
	}
}

// TestRootBotRefusesADataDirItsRunsCannotReach starts the bot as root, with
// the sandbox left to auto, and its data dir under a 0700 directory (as
// /root is, or a mktemp -d): the sandbox's users could not reach their
// checkouts, and the bot used to fall back to running the PR's Terraform
// unisolated. It refuses to start, names the directory and the fixes, and
// creates nothing a run would use.
func TestRootBotRefusesADataDirItsRunsCannotReach(t *testing.T) {
	sandboxtest.Root(t)
	gh := githubtest.New(t)
	closed := filepath.Join(sandboxtest.ReachableDir(t), "root")
	if err := os.Mkdir(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(closed, "data")
	var env []string
	for _, kv := range botEnv(gh, data) {
		if !strings.HasPrefix(kv, "STAGEBOT_SANDBOX=") {
			env = append(env, kv)
		}
	}
	cmd := exec.Command(botBin, "serve")
	cmd.Env = append(env, "STAGEBOT_TERRAFORM_BIN="+terraformBin())
	done := make(chan struct{})
	var out []byte
	var err error
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatal("the bot started, with runs that cannot reach their checkouts")
	}
	if err == nil {
		t.Fatalf("the bot exited 0:\n%s", out)
	}
	for _, want := range []string{closed + " (mode 0700)", "chmod o+x", "STAGEBOT_DATA_DIR", "STAGEBOT_SANDBOX=none"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("the refusal does not say %q:\n%s", want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "workspaces")); err == nil {
		t.Error("the bot laid out its data dir before refusing")
	}
}

// TestUnisolatedPlansSaySo: a bot told STAGEBOT_SANDBOX=none runs the PR's
// Terraform as its own user; every plan comment and check run says so,
// while the uid sandbox's plans do not (TestHostilePullRequest).
func TestUnisolatedPlansSaySo(t *testing.T) {
	gh, repo, head := platformRepo(t)
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "open-1", Body: gh.PullRequestPayload(repo, 7, "opened", 0), Secret: testSecret})
	var check githubtest.CheckRun
	eventually(t, 60*time.Second, "the infrastructure check run", func() bool {
		for _, c := range gh.CheckRuns(repo) {
			if c.Name == "stagebot/infrastructure" && c.HeadSHA == head && c.Status == "completed" {
				check = c
				return true
			}
		}
		return false
	})
	if !strings.Contains(check.Summary, "Not isolated") || !strings.Contains(check.Summary, "STAGEBOT_SANDBOX=none") {
		t.Errorf("the check run does not say the plan ran unisolated:\n%s", check.Summary)
	}
	var body string
	for _, c := range gh.BotComments(repo, 7) {
		if strings.Contains(c.Body, "<!-- stagebot:stage=infrastructure -->") {
			body = c.Body
		}
	}
	if !strings.Contains(body, "**Not isolated.**") {
		t.Errorf("the plan comment does not say the plan ran unisolated:\n%s", body)
	}
}
