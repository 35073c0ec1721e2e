package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// tenantFiles are n tenant instance files named prefix0000... .
func tenantFiles(prefix string, n int) map[string]string {
	files := map[string]string{}
	for i := range n {
		name := fmt.Sprintf("%s%04d", prefix, i)
		files["terraform/tenants/"+name+".tfvars"] = fmt.Sprintf("host = %q\n", name+".sites.example.com")
	}
	return files
}

// apiCalls are the REST requests the fake received from the (n+1)th on:
// git's smart HTTP is not GitHub's API quota.
func apiCalls(gh *githubtest.Server, from int) []string {
	var out []string
	for _, r := range gh.Requests()[from:] {
		if !strings.HasPrefix(r.Path, "/git/") {
			out = append(out, r.Method+" "+r.Path)
		}
	}
	return out
}

// jobFinished reports whether the job of a delivery ended: done, failed
// or waiting.
func (b *bot) jobFinished(delivery string) bool {
	for _, line := range strings.Split(b.Logs(), "\n") {
		if strings.Contains(line, `"delivery":"`+delivery+`"`) &&
			(strings.Contains(line, `"msg":"job done"`) || strings.Contains(line, `"msg":"job failed"`) || strings.Contains(line, `"msg":"job waits"`)) {
			return true
		}
	}
	return false
}

// What one push may cost is bounded: a PR that adds 5,000 tenant files
// gets one comment and one failed check run, for a handful of GitHub
// calls, and no Terraform runs; one that adds 250 is past the instance
// limit alike; once a push of it is within the limits, it is planned and
// the comment says so.
func TestPushLimits(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data := t.TempDir()
	base := gh.Commit(repo, "main", "", instanceRepo(t.TempDir(), "acme", "globex", "initech"), "three tenants")
	gh.SetPermission(repo, "alice", "write")
	b := startBot(t, append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin()))
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: b}

	// submit opens PR number adding files, waits until its job is done,
	// and returns its head, its one comment and the API calls it took.
	submit := func(number int, files map[string]string) (string, string, []string) {
		t.Helper()
		branch := fmt.Sprint("pr-", number)
		head := gh.Commit(repo, branch, "main", files, branch)
		gh.AddPull(repo, githubtest.Pull{Number: number, Author: "alice", HeadRef: branch, HeadSHA: head, BaseRef: "main", BaseSHA: base})
		from, start := len(gh.Requests()), time.Now()
		f.deliver("pull_request", gh.PullRequestPayload(repo, number, "opened", 0))
		delivery := fmt.Sprint("d-", f.n)
		eventually(t, 2*time.Minute, fmt.Sprint("#", number, "'s job"), func() bool { return b.jobFinished(delivery) })
		calls := apiCalls(gh, from)
		t.Logf("#%d (%d files): %d GitHub API calls in %s: %v", number, len(files), len(calls), time.Since(start).Round(time.Millisecond), calls)
		comments := gh.BotComments(repo, number)
		if len(comments) != 1 {
			t.Fatalf("#%d has %d comments, want one", number, len(comments))
		}
		return head, comments[0].Body, calls
	}
	// nothingRan checks that #number's head got no check run but the one
	// failed apply check, and that no Terraform ran for it.
	nothingRan := func(number int, head string) {
		t.Helper()
		for _, c := range gh.CheckRuns(repo) {
			if c.HeadSHA == head && (c.Name != "stagebot/apply" || c.Status != "completed" || c.Conclusion != "failure") {
				t.Errorf("#%d: check run %s %s %s", number, c.Name, c.Status, c.Conclusion)
			}
		}
		if got := f.checkNames(head); len(got) != 1 {
			t.Errorf("#%d's check runs: %v, want the failed stagebot/apply alone", number, got)
		}
		if logs := planLogs(data, number); len(logs) != 0 {
			t.Errorf("#%d ran Terraform: %v", number, logs)
		}
	}

	// 5,000 files: past what GitHub lists of a PR's files, refused before
	// they are listed.
	head1, body, calls := submit(1, tenantFiles("t", 5000))
	if len(calls) > 8 {
		t.Errorf("#1 took %d GitHub API calls, want at most 8: %v", len(calls), calls)
	}
	if n := gh.RequestCount("GET", "/pulls/1/files"); n != 0 {
		t.Errorf("#1's 5,000 files were listed (%d calls)", n)
	}
	for _, want := range []string{"did not plan " + head1[:7], "**5,000 changed files**", "at most **3,000**", "`STAGEBOT_MAX_CHANGED_FILES`"} {
		if !strings.Contains(body, want) {
			t.Errorf("#1's comment lacks %q:\n%s", want, body)
		}
	}
	nothingRan(1, head1)

	// 250 files: 250 instances, past the 200 one push may plan.
	head2, body, _ := submit(2, tenantFiles("n", 250))
	for _, want := range []string{"**250 instances to plan**", "at most **200**", "`STAGEBOT_MAX_INSTANCES`"} {
		if !strings.Contains(body, want) {
			t.Errorf("#2's comment lacks %q:\n%s", want, body)
		}
	}
	nothingRan(2, head2)

	// A push that leaves one of them is planned, and the comment that held
	// #2 back says so.
	keep := map[string]string{}
	for p := range tenantFiles("n", 250) {
		if !strings.HasSuffix(p, "/n0000.tfvars") {
			keep[p] = ""
		}
	}
	head, push := gh.PushToPull(repo, 2, "alice", "alice", keep)
	f.deliver("pull_request", push)
	f.stageComment(2, "tenant", "| `n0000` | 📝 plan at "+head[:7])
	eventually(t, time.Minute, "#2's limits comment", func() bool {
		for _, c := range gh.BotComments(repo, 2) {
			if strings.Contains(c.Body, "<!-- stagebot:limits -->") && strings.Contains(c.Body, "✅ stagebot plans "+head[:7]) {
				return true
			}
		}
		return false
	})
}

// A push that would spend more than its share of the installation's
// remaining API quota says so in one comment, waits until GitHub renews
// the quota, and is then planned by itself.
func TestPushWaitsForTheRateLimit(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", instanceRepo(t.TempDir(), "acme"), "one tenant")
	data := t.TempDir()
	b := startBot(t, append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin()))
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: b}

	// 15 calls left for 5 seconds: planning one instance takes about 8,
	// more than half of what is left when the bot asks.
	reset := time.Now().Add(5 * time.Second)
	gh.SetRateRemaining(githubtest.InstallationID, 15, reset)
	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/tenants/newco.tfvars": "host = \"newco.sites.example.com\"\n"}, "newco")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))

	var wait string
	eventually(t, time.Minute, "the comment that the push waits", func() bool {
		for _, c := range gh.BotComments(repo, 1) {
			if strings.Contains(c.Body, "waits with "+head[:7]) {
				wait = c.Body
				return true
			}
		}
		return false
	})
	if !strings.Contains(wait, reset.UTC().Format("2006-01-02 15:04:05 UTC")) || !strings.Contains(wait, "`STAGEBOT_GITHUB_QUOTA_SHARE`") {
		t.Errorf("the wait comment does not say until when, or which setting:\n%s", wait)
	}
	if time.Now().Before(reset) {
		if n := len(gh.BotComments(repo, 1)); n != 1 || len(planLogs(data, 1)) != 0 || len(f.checkNames(head)) != 0 {
			t.Errorf("before the reset: %d comments, plans %v, check runs %v", n, planLogs(data, 1), f.checkNames(head))
		}
	}

	body := f.stageComment(1, "tenant", "| `newco` | 📝 plan at "+head[:7])
	if planned := time.Now(); planned.Before(reset) {
		t.Errorf("planned at %s, before the quota's reset at %s:\n%s", planned, reset, body)
	}
	eventually(t, time.Minute, "the wait comment, done", func() bool {
		for _, c := range gh.BotComments(repo, 1) {
			if strings.Contains(c.Body, "<!-- stagebot:limits -->") && strings.Contains(c.Body, "✅ stagebot plans "+head[:7]) {
				return true
			}
		}
		return false
	})
	if !strings.Contains(b.Logs(), `"msg":"job waits"`) {
		t.Error("the bot did not log that the job waits")
	}
}
