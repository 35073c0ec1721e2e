package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A PR labelled stagebot:skip is not planned when opened or pushed to;
// other labels change nothing; removing the skip label plans it; /plan
// plans it whatever its labels.
func TestSkipLabel(t *testing.T) {
	f := newPRFlow(t)
	notPlanned := func(n int) {
		t.Helper()
		eventually(t, 20*time.Second, "the skip in the log", func() bool {
			return strings.Count(f.bot.Logs(), "not planned: the pull request is labelled stagebot:skip") >= n
		})
		if c := f.gh.BotComments(f.repo, 1); len(c) != 0 {
			t.Fatalf("a PR labelled stagebot:skip got %d comments: %s", len(c), c[0].Body)
		}
		if cr := f.gh.CheckRuns(f.repo); len(cr) != 0 {
			t.Fatalf("a PR labelled stagebot:skip got check run %s", cr[0].Name)
		}
	}
	head := f.gh.Commit(f.repo, "pr-1", "main", resource("skipped"), "skipped")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: f.base, Labels: []string{"stagebot:skip"}})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	notPlanned(1)

	// A push still plans nothing.
	head = f.gh.Commit(f.repo, "pr-1", "", resource("skipped-2"), "more")
	f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.HeadSHA = head })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "synchronize", 0))
	notPlanned(2)

	// Another label is neither a reason to plan nor to stop.
	f.deliver("pull_request", f.gh.LabelPayload(f.repo, 1, "labeled", "documentation", "alice"))
	eventually(t, 10*time.Second, "the job of the other label", func() bool { return prJobsDone(f.bot) == 3 })
	notPlanned(2)

	// Removing the skip label plans the PR at its head.
	f.deliver("pull_request", f.gh.LabelPayload(f.repo, 1, "unlabeled", "stagebot:skip", "alice"))
	if body := f.stageComment(1, "infrastructure", "to add"); !strings.Contains(body, head[:7]) {
		t.Errorf("the plan after the label's removal is not of the head %s:\n%s", head[:7], body)
	}
}

// prJobsDone counts the pull_request jobs the bot finished.
func prJobsDone(b *bot) int {
	n := 0
	for _, line := range strings.Split(b.Logs(), "\n") {
		if strings.Contains(line, `"msg":"job done"`) && strings.Contains(line, `"kind":"pull_request"`) {
			n++
		}
	}
	return n
}
