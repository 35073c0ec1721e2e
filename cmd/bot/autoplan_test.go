package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// quickstartFiles reads examples/quickstart as path -> content, with its
// state in a directory of the test's, which outlives a workspace (as a real
// remote backend's does).
func quickstartFiles(t testing.TB) map[string]string {
	return stateIn(quickstartTree(t), t.TempDir())
}

// quickstartTree is examples/quickstart as it is in the repository.
func quickstartTree(t testing.TB) map[string]string {
	files := map[string]string{}
	root := "../../examples/quickstart"
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		files[filepath.ToSlash(rel)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// platformRepo is a fake GitHub repository holding the quickstart on main,
// and a PR that changes the infrastructure stage.
func platformRepo(t *testing.T) (*githubtest.Server, *githubtest.Repo, string) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
	head := gh.Commit(repo, "more-nodes", "main", map[string]string{
		"terraform/infrastructure/extra.tf": "resource \"terraform_data\" \"extra\" {\n  input = \"x\"\n}\n",
		"docs/notes.md":                     "notes\n",
	}, "more")
	gh.AddPull(repo, githubtest.Pull{Number: 7, Title: "More", Author: "alice", HeadRef: "more-nodes", HeadSHA: head, BaseSHA: base})
	return gh, repo, head
}

func autoplanEnv(gh *githubtest.Server, data string) []string {
	return append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin())
}

func TestAutoplanCommentsAndChecks(t *testing.T) {
	gh, repo, head := platformRepo(t)
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	status, body := b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "open-1", Body: gh.PullRequestPayload(repo, 7, "opened", 0), Secret: testSecret})
	if status != http.StatusAccepted {
		t.Fatalf("status %d: %s", status, body)
	}
	eventually(t, 60*time.Second, "the infrastructure check run to complete", func() bool {
		for _, c := range gh.CheckRuns(repo) {
			if c.Name == "stagebot/infrastructure" && c.Status == "completed" {
				return true
			}
		}
		return false
	})
	eventually(t, 10*time.Second, "one comment per stage", func() bool { return len(gh.BotComments(repo, 7)) == 1 })
	comments := gh.BotComments(repo, 7)
	if !strings.Contains(comments[0].Body, "<!-- stagebot:stage=infrastructure -->") || !strings.Contains(comments[0].Body, "+3 to add") || !strings.Contains(comments[0].Body, head[:7]) {
		t.Errorf("infrastructure comment:\n%s", comments[0].Body)
	}
	var infra githubtest.CheckRun
	for _, c := range gh.CheckRuns(repo) {
		if c.Name == "stagebot/infrastructure" {
			infra = c
		}
	}
	if infra.HeadSHA != head || infra.Conclusion != "success" || !strings.Contains(infra.Title, "+3 to add") || !strings.Contains(infra.Text, "Plan: 3 to add") {
		t.Errorf("check run = %+v", infra)
	}

	// A push: the same comment is edited to the new head's plan.
	head2 := gh.Commit(repo, "more-nodes", "", map[string]string{"terraform/infrastructure/extra2.tf": "resource \"terraform_data\" \"extra2\" {\n  input = \"y\"\n}\n"}, "more still")
	gh.UpdatePull(repo, 7, func(p *githubtest.Pull) { p.HeadSHA = head2 })
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "sync-1", Body: gh.PullRequestPayload(repo, 7, "synchronize", 0), Secret: testSecret})
	eventually(t, 60*time.Second, "the plan of the new head", func() bool {
		c := gh.BotComments(repo, 7)
		return len(c) == 1 && strings.Contains(c[0].Body, head2[:7])
	})
	if c := gh.BotComments(repo, 7); len(c) != 1 || !strings.Contains(c[0].Body, "+4 to add") {
		t.Errorf("after the push, comments = %d:\n%s", len(c), c[0].Body)
	}

	// A push that leaves the stage untouched: its comment says so.
	head3 := gh.Commit(repo, "more-nodes", "", map[string]string{"terraform/infrastructure/extra.tf": "", "terraform/infrastructure/extra2.tf": ""}, "revert")
	gh.UpdatePull(repo, 7, func(p *githubtest.Pull) { p.HeadSHA = head3 })
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "sync-2", Body: gh.PullRequestPayload(repo, 7, "synchronize", 0), Secret: testSecret})
	eventually(t, 30*time.Second, "the comment to say the stage is no longer affected", func() bool {
		c := gh.BotComments(repo, 7)
		return len(c) == 1 && strings.Contains(c[0].Body, "no longer changes") && strings.Contains(c[0].Body, head3[:7])
	})
	if strings.Contains(b.Logs(), "ghs_") {
		t.Error("an installation token appears in the logs")
	}
}

func TestAutoplanAllStagesWaitInOrder(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", map[string]string{"README.md": "empty\n"}, "init")
	head := gh.Commit(repo, "add-stages", "main", quickstartFiles(t), "stages")
	// stagebot.yaml must be on the default branch: the PR's copy is not read.
	gh.AddPull(repo, githubtest.Pull{Number: 8, Author: "alice", HeadRef: "add-stages", HeadSHA: head, BaseSHA: base})
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "o-8", Body: gh.PullRequestPayload(repo, 8, "opened", 0), Secret: testSecret})
	eventually(t, 20*time.Second, "the job", func() bool { return strings.Contains(b.Logs(), "has no stagebot.yaml") })
	if n := len(gh.BotComments(repo, 8)); n != 0 {
		t.Errorf("%d comments for a repository without stagebot.yaml on main", n)
	}

	base2 := gh.Commit(repo, "main", "", quickstartFiles(t), "adopt stagebot")
	head2 := gh.Commit(repo, "all", "main", map[string]string{
		"terraform/infrastructure/x.tf": "# x\n", "terraform/platform/x.tf": "# x\n", "terraform/tenant/x.tf": "# x\n",
	}, "touch all")
	gh.AddPull(repo, githubtest.Pull{Number: 9, Author: "alice", HeadRef: "all", HeadSHA: head2, BaseSHA: base2})
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "o-9", Body: gh.PullRequestPayload(repo, 9, "opened", 0), Secret: testSecret})
	eventually(t, 60*time.Second, "three stage comments", func() bool { return len(gh.BotComments(repo, 9)) == 3 })
	got := gh.BotComments(repo, 9)
	for i, want := range []string{"stage=infrastructure", "stage=platform", "stage=tenant"} {
		if !strings.Contains(got[i].Body, want) {
			t.Errorf("comment %d is not %s:\n%s", i, want, got[i].Body)
		}
	}
	if !strings.Contains(got[1].Body, "Waiting for `infrastructure`") || !strings.Contains(got[2].Body, "Waiting for `infrastructure`, `platform`") {
		t.Errorf("downstream stages do not say they wait:\n%s\n%s", got[1].Body, got[2].Body)
	}
	// A check run is completed just after its comment is posted.
	eventually(t, 10*time.Second, "neutral check runs for the waiting stages", func() bool {
		n := 0
		for _, c := range gh.CheckRuns(repo) {
			if c.HeadSHA == head2 && (c.Name == "stagebot/platform" || c.Name == "stagebot/tenant") && c.Conclusion == "neutral" {
				n++
			}
		}
		return n == 2
	})
}

func TestBrokenConfigOnMainIsReportedOnce(t *testing.T) {
	gh, repo, _ := platformRepo(t)
	gh.Commit(repo, "main", "", map[string]string{"stagebot.yaml": "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n    dependson: [x]\n"}, "typo")
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	for i := range 2 {
		// Two pushes (bodies differ), not one body replayed.
		b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: fmt.Sprint("c-", i), Body: gh.PullRequestPayload(repo, 7, "synchronize", i), Secret: testSecret})
	}
	eventually(t, 20*time.Second, "the config error comment", func() bool { return len(gh.BotComments(repo, 7)) == 1 })
	time.Sleep(500 * time.Millisecond)
	c := gh.BotComments(repo, 7)
	if len(c) != 1 || !strings.Contains(c[0].Body, "line 5") || !strings.Contains(c[0].Body, "dependson") {
		t.Errorf("comments: %+v", c)
	}
}

// TestTwentyPRsAtOnce opens 20 PRs at once: every one is planned, none is
// lost. The total time is logged for the README (go test -v -run Twenty).
func TestTwentyPRsAtOnce(t *testing.T) {
	const n = 20
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
	var bodies [][]byte
	for i := 1; i <= n; i++ {
		branch := fmt.Sprint("pr-", i)
		head := gh.Commit(repo, branch, "main", map[string]string{"terraform/infrastructure/x.tf": fmt.Sprintf("resource \"terraform_data\" \"x\" {\n  input = %d\n}\n", i)}, branch)
		gh.AddPull(repo, githubtest.Pull{Number: i, Author: "alice", HeadRef: branch, HeadSHA: head, BaseSHA: base})
		bodies = append(bodies, gh.PullRequestPayload(repo, i, "opened", 0))
	}
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	start := time.Now()
	for i, body := range bodies {
		if status, resp := b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: fmt.Sprint("burst-", i), Body: body, Secret: testSecret}); status != http.StatusAccepted {
			t.Fatalf("PR %d: %d %s", i+1, status, resp)
		}
	}
	eventually(t, 5*time.Minute, "every PR planned", func() bool {
		for i := 1; i <= n; i++ {
			if c := gh.BotComments(repo, i); len(c) != 1 || !strings.Contains(c[0].Body, "+3 to add") {
				return false
			}
		}
		return true
	})
	t.Logf("%d PRs opened at once: all planned in %s", n, time.Since(start).Round(10*time.Millisecond))
}

// TestHelmCheckCatchesTheSecretConflict: a PR whose chart would render the
// Secret the bot manages gets a failed check and says why in the comment.
func TestHelmCheckCatchesTheSecretConflict(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	files := quickstartFiles(t)
	files["stagebot.yaml"] = strings.Replace(files["stagebot.yaml"], "    depends_on: [infrastructure]\n", "    depends_on: [infrastructure]\n    watch: [\"charts/app/**\"]\n", 1) +
		"secrets:\n  - name: authentik-env-secrets\n    namespace: admin-apps\n    after: infrastructure\n    kubeconfig: infrastructure.kubeconfig\n"
	files["terraform/platform/main.tf"] = "resource \"terraform_data\" \"release\" {\n  input = \"app\"\n}\n"
	base := gh.Commit(repo, "main", "", files, "quickstart")
	chart := map[string]string{}
	root := "../../internal/kube/testdata/charts/conflict"
	for _, f := range []string{"Chart.yaml", "values.yaml", "templates/deployment.yaml", "templates/secret.yaml"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		chart["charts/app/"+f] = string(b)
	}
	head := gh.Commit(repo, "chart", "main", chart, "chart")
	gh.AddPull(repo, githubtest.Pull{Number: 6, Author: "alice", HeadRef: "chart", HeadSHA: head, BaseSHA: base})
	b := startBot(t, autoplanEnv(gh, t.TempDir()))
	b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "chart-1", Body: gh.PullRequestPayload(repo, 6, "opened", 0), Secret: testSecret})
	eventually(t, 60*time.Second, "the platform check", func() bool {
		for _, c := range gh.CheckRuns(repo) {
			if c.Name == "stagebot/platform" && c.Status == "completed" {
				return true
			}
		}
		return false
	})
	for _, c := range gh.CheckRuns(repo) {
		if c.Name == "stagebot/platform" && (c.Conclusion != "failure" || !strings.Contains(c.Summary, "Secret admin-apps/authentik-env-secrets")) {
			t.Errorf("platform check = %+v", c)
		}
	}
	if c := gh.BotComments(repo, 6); len(c) != 1 || !strings.Contains(c[0].Body, "renders Secret admin-apps/authentik-env-secrets (in templates/secret.yaml)") {
		t.Errorf("comments: %+v", c)
	}
}

// TestSIGTERMDrainsOrLeavesJobsRecoverable: on SIGTERM the bot lets a
// running plan finish within the shutdown bound; past the bound it stops,
// and the job runs again after a restart.
func TestSIGTERMDrainsOrLeavesJobsRecoverable(t *testing.T) {
	slow := map[string]string{"terraform/infrastructure/many.tf": "resource \"terraform_data\" \"r\" {\n  count = 6000\n  input = count.index\n}\n"}
	for _, tc := range []struct {
		name    string
		timeout string
		drained bool
	}{{"within the bound", "5m", true}, {"past the bound", "1s", false}} {
		t.Run(tc.name, func(t *testing.T) {
			gh := githubtest.New(t)
			repo := gh.AddRepo("acme", "platform")
			base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
			head := gh.Commit(repo, "slow", "main", slow, "slow")
			gh.AddPull(repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "slow", HeadSHA: head, BaseSHA: base})
			data := t.TempDir()
			env := append(autoplanEnv(gh, data), "STAGEBOT_SHUTDOWN_TIMEOUT="+tc.timeout)
			b := startBot(t, env)
			b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "slow-1", Body: gh.PullRequestPayload(repo, 2, "opened", 0), Secret: testSecret})
			eventually(t, 30*time.Second, "the plan to start", func() bool {
				for _, c := range gh.CheckRuns(repo) {
					if c.Name == "stagebot/infrastructure" && c.Status == "in_progress" {
						return true
					}
				}
				return false
			})
			b.stop()
			if code := b.cmd.ProcessState.ExitCode(); code != 0 {
				t.Errorf("exit code %d", code)
			}
			posted := len(gh.BotComments(repo, 2)) > 0 // the plan is long: it takes several parts
			if posted != tc.drained {
				t.Fatalf("comment posted before exit = %v, want %v (%d comments)", posted, tc.drained, len(gh.BotComments(repo, 2)))
			}
			if !tc.drained {
				startBot(t, env)
				eventually(t, 90*time.Second, "the job to run again after the restart", func() bool {
					c := gh.BotComments(repo, 2)
					return len(c) > 0 && strings.Contains(c[0].Body, "+6002 to add")
				})
			}
		})
	}
}
