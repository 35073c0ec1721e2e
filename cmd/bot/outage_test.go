package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// GitHub goes away for 60 s as three PRs are opened, answering every
// request (the API, tokens, git) with a 502, or with its 403 secondary
// rate limit: once it is back, every PR ends with exactly one comment per
// stage, and every check run the bot opened is completed.
func TestGitHubOutage(t *testing.T) {
	for _, o := range []struct {
		name  string
		fault githubtest.Fault
	}{{"502", githubtest.ServerError}, {"403 secondary rate limit", githubtest.SecondaryRateLimit}} {
		t.Run(o.name, func(t *testing.T) {
			t.Parallel()
			gh := githubtest.New(t)
			repo := gh.AddRepo("acme", "platform")
			base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
			b := startBot(t, autoplanEnv(gh, t.TempDir()))
			f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: b}
			heads := map[int]string{}
			gh.Outage("/", 60*time.Second, o.fault)
			before := len(gh.Requests())
			for n := 1; n <= 3; n++ {
				branch := fmt.Sprint("pr-", n)
				heads[n] = gh.Commit(repo, branch, "main", map[string]string{
					"terraform/infrastructure/extra.tf": fmt.Sprintf("resource \"terraform_data\" \"extra\" {\n  input = %d\n}\n", n),
					"terraform/platform/extra.tf":       fmt.Sprintf("resource \"terraform_data\" \"extra\" {\n  input = %d\n}\n", n),
				}, branch)
				gh.AddPull(repo, githubtest.Pull{Number: n, Author: "alice", HeadRef: branch, HeadSHA: heads[n], BaseRef: "main", BaseSHA: base})
				f.deliver("pull_request", gh.PullRequestPayload(repo, n, "opened", 0))
			}
			done := func(n int) bool {
				for _, c := range gh.CheckRuns(repo) {
					if c.HeadSHA == heads[n] && c.Status != "completed" {
						return false
					}
				}
				return strings.Contains(strings.Join(bodies(gh.BotComments(repo, n)), "\n"), "stagebot plan: `infrastructure`")
			}
			start := time.Now()
			eventually(t, 5*time.Minute, "every PR planned after the outage", func() bool { return done(1) && done(2) && done(3) })
			t.Logf("%s: every PR planned %.1f s after the outage ended", o.name, time.Since(start).Seconds()-60)
			time.Sleep(2 * time.Second) // anything still to come would come now
			t.Logf("%s: %d requests to GitHub in all", o.name, len(gh.Requests())-before)
			for n := 1; n <= 3; n++ {
				count := map[string]int{}
				for _, c := range gh.BotComments(repo, n) {
					for _, stage := range []string{"infrastructure", "platform"} {
						if strings.HasPrefix(c.Body, "<!-- stagebot:stage="+stage+" -->") {
							count[stage]++
						}
					}
				}
				if count["infrastructure"] != 1 || count["platform"] != 1 {
					t.Errorf("#%d: stage comments %v, want one each", n, count)
				}
				checks := 0
				for _, c := range gh.CheckRuns(repo) {
					if c.HeadSHA == heads[n] {
						checks++
						if c.Status != "completed" {
							t.Errorf("#%d: check run %s is %s", n, c.Name, c.Status)
						}
					}
				}
				if checks == 0 {
					t.Errorf("#%d: no check run", n)
				}
			}
		})
	}
}

func bodies(cs []githubtest.Comment) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Body
	}
	return out
}
