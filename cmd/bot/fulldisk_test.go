package main

import (
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
	"github.com/stagebot/stagebot/internal/disktest"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// The bot's disk is full as a PR is planned, and is freed three seconds
// later: the PR is planned (whole), /apply applies that plan, and every
// resource of it is in the state. (What the disk cuts short is made anew:
// the repository's git mirror, Terraform's working files.) The queue is on PostgreSQL, so that the
// delivery is taken while the disk is full and the plan meets it.
func TestPlanThroughAFullDiskEndToEnd(t *testing.T) {
	disk := disktest.Mount(t, "160m")
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	base := gh.Commit(repo, "main", "", stateIn(quickstartTree(t), state), "quickstart")
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "carol", "maintain")
	raw := make([]byte, 32)
	rand.Read(raw)
	b := startBot(t, append(autoplanEnv(gh, filepath.Join(disk, "data")), "STAGEBOT_PLAN_RETRY_WAIT=1s",
		"STAGEBOT_DATABASE_URL="+dbtest.FreshPostgres(t), "STAGEBOT_PLAN_KEYS="+base64.StdEncoding.EncodeToString(raw)))
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: b}

	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/infrastructure/many.tf": "resource \"terraform_data\" \"many\" {\n  count = 300\n  input = count.index\n}\n"}, "many")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	gh.AddReview(repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	free := disktest.Fill(t, disk)
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	time.Sleep(3 * time.Second)
	free()

	f.stageComment(1, "infrastructure", "+302 to add")
	f.say(1, "alice", "/apply")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	b2, _ := os.ReadFile(filepath.Join(state, "infrastructure.tfstate"))
	if n := strings.Count(string(b2), `"index_key": `); n != 300 {
		t.Errorf("the state holds %d of the plan's 300 instances", n)
	}
	if !strings.Contains(strings.ToLower(b.Logs()), "no space left") {
		t.Error("the PR's work never met the full disk: the test proves nothing")
	}
}
