package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// prFlow is a running bot and a fake GitHub with the quickstart on main.
type prFlow struct {
	t    *testing.T
	gh   *githubtest.Server
	repo *githubtest.Repo
	bot  *bot
	base string
	n    int
}

func newPRFlow(t *testing.T) *prFlow {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
	for user, role := range map[string]string{"alice": "write", "carol": "maintain", "bob": "read", "dave": "write"} {
		gh.SetPermission(repo, user, role)
	}
	return &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, t.TempDir()))}
}

// open opens PR number by author changing files and waits for its plans.
func (f *prFlow) open(number int, author string, files map[string]string, wantComments int) string {
	branch := fmt.Sprint("pr-", number)
	head := f.gh.Commit(f.repo, branch, "main", files, branch)
	f.gh.AddPull(f.repo, githubtest.Pull{Number: number, Author: author, HeadRef: branch, HeadSHA: head, BaseSHA: f.base})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, number, "opened", 0))
	eventually(f.t, 60*time.Second, "the plan comments", func() bool { return len(f.gh.BotComments(f.repo, number)) == wantComments })
	return head
}

func (f *prFlow) deliver(event string, body []byte) {
	f.n++
	if status, resp := f.bot.deliver(f.t, githubtest.Delivery{Event: event, ID: fmt.Sprint("d-", f.n), Body: body, Secret: testSecret}); status != 202 && status != 200 {
		f.t.Fatalf("delivery: %d %s", status, resp)
	}
}

// say comments on a PR and waits until the bot has reacted to it.
func (f *prFlow) say(number int, user, body string) int64 {
	id := f.gh.AddComment(f.repo, number, user, body)
	f.deliver("issue_comment", f.gh.CommentPayload(f.repo, number, id))
	eventually(f.t, 10*time.Second, "the eyes reaction", func() bool {
		for _, c := range f.gh.Comments(f.repo, number) {
			if c.ID == id && len(c.Reactions) > 0 {
				return true
			}
		}
		return false
	})
	return id
}

// reply waits for the bot's reply to a comment.
func (f *prFlow) reply(number int, id int64) string {
	var body string
	eventually(f.t, 60*time.Second, "the reply", func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			if strings.Contains(c.Body, fmt.Sprintf("stagebot:reply-to=%d ", id)) {
				body = c.Body
				return true
			}
		}
		return false
	})
	return body
}

// stageComment waits until the stage's comment contains want.
func (f *prFlow) stageComment(number int, stage, want string) string {
	var body string
	eventually(f.t, 3*time.Minute, stage+" comment with "+want, func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			if strings.Contains(c.Body, "<!-- stagebot:stage="+stage+" -->") && strings.Contains(c.Body, want) {
				body = c.Body
				return true
			}
		}
		return false
	})
	return body
}

var touchAll = map[string]string{
	"terraform/infrastructure/x.tf": "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
	"terraform/platform/x.tf":       "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
	"terraform/tenant/x.tf":         "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
}

func TestApplyFlow(t *testing.T) {
	f := newPRFlow(t)
	head := f.open(9, "alice", touchAll, 3)
	// #10 and #11 are planned before #9 applies anything.
	head10 := f.open(10, "dave", map[string]string{"terraform/infrastructure/y.tf": "resource \"terraform_data\" \"y\" {\n  input = 2\n}\n"}, 1)
	head11 := f.open(11, "dave", map[string]string{"terraform/infrastructure/z.tf": "resource \"terraform_data\" \"z\" {\n  input = 3\n}\n"}, 1)
	f.gh.AddReview(f.repo, 11, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head11})

	// Someone without write permission.
	if r := f.reply(9, f.say(9, "bob", "/apply")); !strings.Contains(r, "@bob has the `read` role") {
		t.Errorf("bob's /apply: %s", r)
	}
	// The author, without an approval.
	if r := f.reply(9, f.say(9, "alice", "/apply")); !strings.Contains(r, "`approved` requirement is not met") {
		t.Errorf("unapproved /apply: %s", r)
	}
	// A downstream stage before its upstream.
	f.gh.AddReview(f.repo, 9, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	if r := f.reply(9, f.say(9, "alice", "/apply tenant")); !strings.Contains(r, "comment `/apply infrastructure` first") {
		t.Errorf("/apply tenant first: %s", r)
	}
	// Approved: infrastructure is applied and platform planned right after.
	f.say(9, "alice", "/apply")
	f.stageComment(9, "infrastructure", "✅ stagebot applied `infrastructure`")
	platform := f.stageComment(9, "platform", "+2 to add")
	if strings.Contains(platform, "Waiting") {
		t.Errorf("platform still waits after infrastructure was applied:\n%s", platform)
	}
	f.stageComment(9, "tenant", "Waiting for `platform`")
	f.say(9, "alice", "/apply")
	f.stageComment(9, "platform", "✅ stagebot applied `platform`")
	f.stageComment(9, "tenant", "+3 to add")
	f.say(9, "alice", "/apply tenant")
	tenant := f.stageComment(9, "tenant", "✅ stagebot applied `tenant`")
	if !strings.Contains(tenant, "wordpress") && !strings.Contains(tenant, "Apply complete") {
		t.Errorf("tenant apply comment:\n%s", tenant)
	}

	// Another PR cannot apply a stage #9 holds.
	f.gh.AddReview(f.repo, 10, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head10})
	if r := f.reply(10, f.say(10, "dave", "/apply")); !strings.Contains(r, "locked by #9") || !strings.Contains(r, "`/unlock infrastructure`") {
		t.Errorf("/apply of a locked stage: %s", r)
	}
	// Plans of a locked stage still run, and say who holds the lock.
	f.say(10, "dave", "/plan")
	f.stageComment(10, "infrastructure", "is locked by #9")
	// #9's stagebot/apply check says everything is applied.
	eventually(t, 10*time.Second, "#9's apply check", func() bool {
		for _, c := range f.gh.CheckRuns(f.repo) {
			if c.Name == "stagebot/apply" && c.HeadSHA == head && c.Conclusion == "success" && strings.Contains(c.Summary, "`infrastructure`, `platform`, `tenant`") {
				return true
			}
		}
		return false
	})
	// #9 closes: its locks go; #10's plan predates #9's apply, so it is stale.
	f.gh.UpdatePull(f.repo, 9, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 9, "closed", 0))
	eventually(t, 10*time.Second, "#9's locks released", func() bool {
		return strings.Contains(f.bot.Logs(), `"released":["infrastructure","platform","tenant"]`)
	})
	// #11's plan was made before #9 applied infrastructure: it is stale.
	if r := f.reply(11, f.say(11, "dave", "/apply")); !strings.Contains(r, "#9 applied `infrastructure` after this plan was made") {
		t.Errorf("stale plan: %s", r)
	}
	f.say(10, "dave", "/plan")
	time.Sleep(100 * time.Millisecond)
	f.say(10, "dave", "/apply")
	f.stageComment(10, "infrastructure", "✅ stagebot applied `infrastructure`")
}

func TestUnknownStageAndCommandGuidance(t *testing.T) {
	f := newPRFlow(t)
	f.open(3, "alice", map[string]string{"terraform/tenant/x.tf": "# x\n"}, 1)
	if r := f.reply(3, f.say(3, "alice", "/apply network")); !strings.Contains(r, "there is no stage `network`") || !strings.Contains(r, "`infrastructure` → `platform` → `tenant`") {
		t.Errorf("unknown stage: %s", r)
	}
	if r := f.reply(3, f.say(3, "alice", "/apply --auto-approve")); !strings.Contains(r, "not flags") {
		t.Errorf("flag: %s", r)
	}
	if r := f.reply(3, f.say(3, "alice", "/help")); !strings.Contains(r, "`/apply`, `/unlock`, `/import` and `/state` may be used by users with the `write` role") {
		t.Errorf("help: %s", r)
	}
}

// TestInterruptedApplyIsNotRepeated kills the bot during an apply: after the
// restart the job runs again, but the bot does not apply again on its own;
// it says so on the PR and keeps the lock.
func TestInterruptedApplyIsNotRepeated(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "carol", "maintain")
	marks := filepath.Join(t.TempDir(), "applied.log")
	head := gh.Commit(repo, "slow", "main", map[string]string{"terraform/infrastructure/slow.tf": fmt.Sprintf(
		"resource \"terraform_data\" \"slow\" {\n  provisioner \"local-exec\" {\n    command = \"echo applied >> %s; sleep 5\"\n  }\n}\n", marks)}, "slow")
	gh.AddPull(repo, githubtest.Pull{Number: 4, Author: "alice", HeadRef: "slow", HeadSHA: head, BaseSHA: base})
	gh.AddReview(repo, 4, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	data := t.TempDir()
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, data))}
	f.deliver("pull_request", gh.PullRequestPayload(repo, 4, "opened", 0))
	f.stageComment(4, "infrastructure", "+3 to add")
	f.say(4, "alice", "/apply infrastructure")
	eventually(t, 30*time.Second, "the apply to start", func() bool {
		b, _ := os.ReadFile(marks)
		return len(b) > 0
	})
	f.bot.kill9()

	f.bot = startBot(t, autoplanEnv(gh, data))
	body := f.stageComment(4, "infrastructure", "was interrupted")
	if !strings.Contains(body, "`/plan infrastructure`") || !strings.Contains(body, "stays locked to #4") {
		t.Errorf("interrupted comment:\n%s", body)
	}
	time.Sleep(7 * time.Second) // long enough for a second apply to show
	if b, _ := os.ReadFile(marks); strings.Count(string(b), "applied") != 1 {
		t.Fatalf("the provisioner ran %d times, want 1", strings.Count(string(b), "applied"))
	}
	// /plan then /apply continue.
	f.say(4, "alice", "/plan infrastructure")
	f.stageComment(4, "infrastructure", "stagebot plan")
	f.say(4, "alice", "/apply infrastructure")
	f.stageComment(4, "infrastructure", "✅ stagebot applied `infrastructure`")
}

// stateIn writes dir into the quickstart where it names ${state_dir}: in
// each stage's backend block and in the remote state it reads, so that a
// bot without STAGEBOT_STATE_DIR, or Terraform run by hand, keeps the
// state there too.
func stateIn(files map[string]string, dir string) map[string]string {
	out := map[string]string{}
	for p, c := range files {
		if stage, ok := strings.CutSuffix(strings.TrimPrefix(p, "terraform/"), "/main.tf"); ok {
			c = strings.Replace(c, `backend "local" {}`, fmt.Sprintf("backend \"local\" {\n    path = %q\n  }", dir+"/"+stage+".tfstate"), 1)
			c = stateDirVar.ReplaceAllString(c, "")
		}
		c = strings.ReplaceAll(c, "${var.state_dir}", dir)
		if p == "stagebot.yaml" {
			c = backendPaths.ReplaceAllString(c, "")
		}
		out[p] = c
	}
	return out
}

var (
	stateDirVar  = regexp.MustCompile(`(?s)variable "state_dir" \{.*?\n\}\n\n`)
	backendPaths = regexp.MustCompile(`    backend_config:\n      path: .*\n`)
)

func TestApplyOnMerge(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", quickstartFiles(t), "quickstart")
	for user, role := range map[string]string{"alice": "write", "carol": "maintain"} {
		gh.SetPermission(repo, user, role)
	}
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, t.TempDir()))}

	// #1 is applied from the PR, then merged: the merge has nothing left to do.
	head := f.open(1, "alice", map[string]string{"terraform/infrastructure/a.tf": "resource \"terraform_data\" \"a\" {\n  input = 1\n}\n"}, 1)
	gh.AddReview(repo, 1, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.say(1, "alice", "/apply")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	merge1 := gh.Merge(repo, 1)
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "closed", 0))
	body := f.stageComment(1, "infrastructure", "Applied on merge of #1")
	if !strings.Contains(body, "already applied from the pull request") {
		t.Errorf("merge of an applied PR:\n%s", body)
	}
	eventually(t, 10*time.Second, "the lock to be released", func() bool { return strings.Contains(f.bot.Logs(), `"msg":"merge applied"`) })
	var check githubtest.CheckRun
	for _, c := range gh.CheckRuns(repo) {
		if c.HeadSHA == merge1 && c.Name == "stagebot/infrastructure" {
			check = c
		}
	}
	if check.Conclusion != "neutral" {
		t.Errorf("check run on the merge commit: %+v", check)
	}

	// #2 is approved and merged without /apply: the merge applies it,
	// stage by stage.
	f.base = merge1
	head2 := f.open(2, "alice", map[string]string{
		"terraform/infrastructure/b.tf": "resource \"terraform_data\" \"b\" {\n  input = 2\n}\n",
		"terraform/platform/b.tf":       "resource \"terraform_data\" \"b\" {\n  input = 2\n}\n",
	}, 2)
	gh.AddReview(repo, 2, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head2})
	merge2 := gh.Merge(repo, 2)
	f.deliver("pull_request", gh.PullRequestPayload(repo, 2, "closed", 0))
	f.stageComment(2, "infrastructure", "✅ stagebot applied `infrastructure`")
	platform := f.stageComment(2, "platform", "✅ stagebot applied `platform`")
	if !strings.Contains(platform, "Applied on merge of #2 (merge commit "+merge2[:7]) || !strings.Contains(platform, "+2 add") {
		t.Errorf("platform comment:\n%s", platform)
	}
}
