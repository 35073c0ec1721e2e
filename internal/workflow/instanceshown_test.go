package workflow

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

// A plan shown in the stage's comment may be pushed out of it later (a
// /plan of another instance makes that one's plan bigger: it reads
// outside data): it is not applied unseen. /apply of it is refused until
// a /plan of it shows it in its own check run (found by an attacker
// review: it was applied, shown nowhere).
func TestAPlanPushedOutOfTheCommentIsNotAppliedUnseen(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	b.w.InstanceCheckRuns = 2
	state := t.TempDir()
	trigger := filepath.Join(t.TempDir(), "big")
	yaml := fmt.Sprintf("version: 1\nstages:\n  - name: tenant\n    dir: terraform/tenant\n    instances: {from: \"terraform/tenants/*.tfvars\"}\n    backend_config: {path: \"%s/tenant-${instance}.tfstate\"}\napply:\n  requirements: [approved]\n", state)
	module := func(v string) string {
		return fmt.Sprintf(`terraform {
  backend "local" {}
}
variable "instance" {
  type = string
}
locals {
  pad  = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
  big  = var.instance == "aa" && fileexists(%q)
  rows = var.instance == "zz" ? 400 : (local.big ? 1000 : 1)
  tag  = var.instance == "zz" ? "EVIL-zz-line" : "%s-${var.instance}-line"
}
resource "terraform_data" "site" {
  input = join("\n", [for i in range(local.rows) : "${local.tag}-${i}-${local.pad}"])
}
`, trigger, v)
	}
	b.base = b.fake.Commit(b.repo, "main", "", map[string]string{"stagebot.yaml": yaml, "terraform/tenant/main.tf": module("v1"),
		"terraform/tenants/aa.tfvars": "# aa\n", "terraform/tenants/bb.tfvars": "# bb\n", "terraform/tenants/zz.tfvars": "# zz\n"}, "tenants")
	b.fake.SetPermission(b.repo, "alice", "write")
	pr := b.pull(t, 1, map[string]string{"terraform/tenant/main.tf": module("v2")})
	ev := webhook.PullRequestEvent{InstallationID: githubtest.InstallationID, Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"},
		Action: "opened", Number: 1, Author: "alice", HeadSHA: pr.HeadSHA, HeadRef: "pr", BaseSHA: b.base, BaseRef: "main"}
	if err := b.w.PullRequest(ctx, jobs.PullRequestJob{DeliveryID: "d1", Event: ev}); err != nil {
		t.Fatal(err)
	}
	inComments := func() bool {
		for _, c := range b.fake.BotComments(b.repo, 1) {
			if strings.Contains(c.Body, "EVIL-zz-line-0-") {
				return true
			}
		}
		return false
	}
	inCheck := func() bool {
		for _, c := range b.fake.CheckRuns(b.repo) {
			if c.HeadSHA == pr.HeadSHA && strings.Contains(c.Summary+c.Text, "EVIL-zz-line-0-") {
				return true
			}
		}
		return false
	}
	before, ok, err := b.w.Store.Plans().Plan(ctx, "acme/platform", 1, "tenant:zz")
	if err != nil || !ok || !before.Posted || !inComments() {
		t.Fatalf("setup: zz's plan posted %v (%v %v), in the comment %v", before.Posted, ok, err, inComments())
	}
	// The author re-plans aa on the same head; its plan is big now.
	if err := os.WriteFile(trigger, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	id := b.fake.AddComment(b.repo, 1, "alice", "/plan tenant:aa")
	if err := b.w.Comment(ctx, jobs.CommentJob{DeliveryID: "d2", Event: webhook.CommentEvent{InstallationID: githubtest.InstallationID,
		Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"}, Number: 1, CommentID: id, Author: "alice", Body: "/plan tenant:aa"}}); err != nil {
		t.Fatal(err)
	}
	after, _, _ := b.w.Store.Plans().Plan(ctx, "acme/platform", 1, "tenant:zz")
	var claims bool
	for _, c := range b.fake.BotComments(b.repo, 1) {
		claims = claims || strings.Contains(c.Body, "did not fit in this comment: each one's plan is in its own check run")
	}
	var apply bool
	for _, c := range b.fake.CheckRuns(b.repo) {
		if c.Name == "stagebot/tenant" && c.HeadSHA == pr.HeadSHA {
			for _, a := range c.Actions {
				apply = apply || a.Label == "Apply"
			}
			t.Logf("shared check run: %s %q, actions %+v", c.Conclusion, c.Title, c.Actions)
		}
	}
	if !after.Posted || after.SHA256 != before.SHA256 || inComments() || inCheck() {
		t.Fatalf("the premise: zz's plan posted %v, the same %v, in the comment %v, in a check run %v", after.Posted, after.SHA256 == before.SHA256, inComments(), inCheck())
	}
	if apply || claims {
		t.Errorf("with zz's plan shown nowhere, the shared check run offers Apply (%v) or the comment says every plan left out is in its own check run (%v)", apply, claims)
	}
	// A reviewer approves what the comment shows, and applies the stage.
	b.fake.SetPermission(b.repo, "dave", "write")
	if err := b.w.Store.AddPusher(ctx, b.gh.FullName(), 1, "alice"); err != nil {
		t.Fatal(err)
	}
	if err := b.w.Store.AddHead(ctx, b.gh.FullName(), 1, pr.HeadSHA); err != nil {
		t.Fatal(err)
	}
	b.fake.AddReview(b.repo, 1, githubtest.Review{User: "dave", State: "APPROVED", CommitID: pr.HeadSHA})
	id = b.fake.AddComment(b.repo, 1, "dave", "/apply tenant:zz")
	if err := b.w.Comment(ctx, jobs.CommentJob{DeliveryID: "d3", Event: webhook.CommentEvent{InstallationID: githubtest.InstallationID,
		Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"}, Number: 1, CommentID: id, Author: "dave", Body: "/apply tenant:zz"}}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.ReadFile(filepath.Join(state, "tenant-zz.tfstate")); err == nil && strings.Contains(string(st), "EVIL-zz-line-0-") {
		t.Fatal("zz's unshown plan was applied")
	}
	var refused bool
	for _, c := range b.fake.BotComments(b.repo, 1) {
		refused = refused || strings.Contains(c.Body, fmt.Sprintf("stagebot:reply-to=%d ", id)) && strings.Contains(c.Body, "is not shown on the pull request") && strings.Contains(c.Body, "/plan tenant:zz")
	}
	if !refused {
		t.Error("/apply tenant:zz was not refused for its plan not shown")
	}
	// /plan tenant:zz shows it in its own check run; then it may be applied.
	for i, cmd := range []string{"/plan tenant:zz", "/apply tenant:zz"} {
		id = b.fake.AddComment(b.repo, 1, "dave", cmd)
		if err := b.w.Comment(ctx, jobs.CommentJob{DeliveryID: fmt.Sprint("d", 4+i), Event: webhook.CommentEvent{InstallationID: githubtest.InstallationID,
			Repo: webhook.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"}, Number: 1, CommentID: id, Author: "dave", Body: cmd}}); err != nil {
			t.Fatal(err)
		}
	}
	if !inCheck() {
		t.Error("/plan tenant:zz did not show its plan in its own check run")
	}
	if st, err := os.ReadFile(filepath.Join(state, "tenant-zz.tfstate")); err != nil || !strings.Contains(string(st), "EVIL-zz-line-0-") {
		t.Errorf("zz's plan, shown in its own check run, was not applied: %v", err)
	}
}
