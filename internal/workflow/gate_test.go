package workflow

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	_ "modernc.org/sqlite"

	"github.com/stagebot/stagebot/internal/drift"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// In-process tests of the gate: a Workflow on the fake GitHub, real git,
// SQLite and the real runner, its turns built as the jobs build them.

type testBundle struct {
	w    *Workflow
	fake *githubtest.Server
	repo *githubtest.Repo
	gh   gh.Repo
	base string // main's first commit
}

const (
	strictRules  = "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n    policies: [\"policies/*.rego\"]\napply:\n  requirements: [approved]\n"
	relaxedRules = "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: []\n  users: [alice]\n"
)

func setup(t *testing.T) *testBundle {
	t.Helper()
	fake := githubtest.New(t)
	repo := fake.AddRepo("acme", "platform")
	app, err := gh.NewApp(gh.AppConfig{AppID: githubtest.AppID, PrivateKey: githubtest.AppKey(), APIURL: fake.URL()})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	st, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	tf := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN")
	if tf == "" {
		tf = "terraform"
	}
	r, err := runner.New(context.Background(), runner.Config{TerraformBin: tf, DataDir: t.TempDir(), Timeout: time.Minute, GracePeriod: time.Second, Plans: st.Plans()})
	if err != nil {
		t.Fatal(err)
	}
	w, err := New(Config{
		Installation: func(int64) GitHub { return app.Installation(githubtest.InstallationID) },
		Runner:       r, Store: st, Secrets: redact.New(),
		Drifts:  &drift.Checker{Runner: r, Store: st},
		Enqueue: func(context.Context, jobs.Job) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	base := fake.Commit(repo, "main", "", map[string]string{"stagebot.yaml": strictRules, "policies/db.rego": "package stagebot\n", "terraform/infrastructure/main.tf": "# main\n"}, "init")
	return &testBundle{w: w, fake: fake, repo: repo, gh: gh.Repo{Owner: "acme", Name: "platform", DefaultBranch: "main"}, base: base}
}

// pull opens PR number by alice from branch (made by files) and returns it
// as the client reads it.
func (b *testBundle) pull(t *testing.T, number int, files map[string]string) gh.PullRequest {
	t.Helper()
	branch := "pr"
	head := b.fake.Commit(b.repo, branch, "main", files, "change")
	b.fake.AddPull(b.repo, githubtest.Pull{Number: number, Author: "alice", HeadRef: branch, HeadSHA: head, BaseRef: "main", BaseSHA: b.base})
	return b.read(t, number)
}

func (b *testBundle) read(t *testing.T, number int) gh.PullRequest {
	t.Helper()
	pr, err := b.w.client(githubtest.InstallationID).PullRequest(context.Background(), b.gh, number)
	if err != nil {
		t.Fatal(err)
	}
	return pr
}

// A PR's turn and its merge's turn are judged by the rules of the base the
// PR was reviewed against, never by the rules it brings; the rules it
// changes are named.
func TestTurnRulesComeFromTheReviewedBase(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	pr := b.pull(t, 1, map[string]string{"stagebot.yaml": relaxedRules, "policies/db.rego": "package stagebot\n# allow all\n", "terraform/infrastructure/x.tf": "# x\n"})

	open, err := b.w.newTurn(ctx, githubtest.InstallationID, b.gh, pr)
	if err != nil {
		t.Fatal(err)
	}
	if open.base != b.base || !slices.Equal(open.cfg.Apply.Requirements, []string{"approved"}) {
		t.Errorf("the PR's turn: base %s (want main's tip %s), requirements %v", open.base, b.base, open.cfg.Apply.Requirements)
	}
	if got := open.rulesChanged([]string{"terraform/infrastructure/x.tf", "stagebot.yaml", "policies/db.rego"}); !slices.Equal(got, []string{"policies/db.rego", "stagebot.yaml"}) {
		t.Errorf("rules changed = %v", got)
	}

	b.fake.MergeAs(b.repo, 1, "alice")
	merged, err := b.w.mergeTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	if merged.base != b.base || !slices.Equal(merged.cfg.Apply.Requirements, []string{"approved"}) || len(merged.cfg.Apply.Users) != 0 {
		t.Errorf("the merge's turn: base %s (want the merge commit's first parent %s), apply %+v", merged.base, b.base, merged.cfg.Apply)
	}
	pols, err := merged.policies(ctx, []string{"infrastructure"})
	if err != nil {
		t.Fatal(err)
	}
	if p := pols["infrastructure"]; p == nil || p.Err != nil || !slices.Equal(p.Files, []string{"policies/db.rego"}) {
		t.Fatalf("policies of the merge: %+v", p)
	}
}

// A rebase merge of several commits whose first rewrites the rules leaves
// no commit of its own to judge it by: the merge's turn is refused, with
// the reason.
func TestRebaseMergeThatChangesTheRulesIsRefused(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	first := b.fake.Commit(b.repo, "pr", "main", map[string]string{"stagebot.yaml": relaxedRules}, "relax")
	head := b.fake.Commit(b.repo, "pr", "", map[string]string{"terraform/infrastructure/x.tf": "# x\n"}, "change")
	b.fake.AddPull(b.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr", HeadSHA: head, BaseRef: "main", BaseSHA: b.base})
	// GitHub's rebase: the PR's commits, replayed on main one by one.
	b.fake.Commit(b.repo, "main", "", map[string]string{"stagebot.yaml": relaxedRules}, "relax (rebased from "+first[:7]+")")
	tip := b.fake.Commit(b.repo, "main", "", map[string]string{"terraform/infrastructure/x.tf": "# x\n"}, "change (rebased)")
	b.fake.UpdatePull(b.repo, 1, func(p *githubtest.Pull) {
		p.Merged, p.State, p.MergeCommitSHA, p.MergedBy = true, "closed", tip, "alice"
	})

	_, err := b.w.mergeTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, 1))
	var unclear errRulesUnclear
	if !errors.As(err, &unclear) {
		t.Fatalf("mergeTurn of a rebase that changes the rules: %v, want errRulesUnclear", err)
	}
}

// Nobody who made the change approves it: its author, the authors and
// committers of its commits, and whoever pushed to it or to its branch.
func TestTwoPersonRule(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	for user, role := range map[string]string{"carol": "write", "dave": "write", "erin": "write", "frank": "write", "gina": "read"} {
		b.fake.SetPermission(b.repo, user, role)
	}
	b.fake.Commit(b.repo, "pr", "main", map[string]string{"terraform/infrastructure/x.tf": "# x\n"}, "alice's change")
	head := b.fake.CommitAs(b.repo, "dave", "pr", "", map[string]string{"terraform/infrastructure/y.tf": "# y\n"}, "dave's change")
	b.fake.AddPull(b.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr", HeadSHA: head, BaseRef: "main", BaseSHA: b.base})
	tn, err := b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Nobody announced the push of the head: no approval counts.
	if approvers, why, err := tn.approvals(ctx); err != nil || len(approvers) != 0 || !strings.Contains(why, "cannot tell who pushed it") {
		t.Errorf("approvals of a head whose push was never announced: %v (why %q, %v)", approvers, why, err)
	}
	if err := b.w.Store.AddPusher(ctx, b.gh.FullName(), 1, "Erin"); err != nil { // a synchronize's sender
		t.Fatal(err)
	}
	if err := b.w.Store.AddHead(ctx, b.gh.FullName(), 1, head); err != nil { // ...announced head
		t.Fatal(err)
	}
	if err := b.w.Store.AddBranchPusher(ctx, b.gh.FullName(), "pr", "frank"); err != nil { // a push while the PR was closed
		t.Fatal(err)
	}
	for _, u := range []string{"alice", "dave", "erin", "frank", "gina", "carol"} {
		b.fake.AddReview(b.repo, 1, githubtest.Review{User: u, State: "APPROVED", CommitID: head})
	}
	tn, err = b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	makers, err := tn.makers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"alice": true, "dave": true, "erin": true, "frank": true}, makers); diff != "" {
		t.Errorf("makers (-want +got):\n%s", diff)
	}
	// Of six approvals, one counts: gina cannot write, the rest made it.
	if approvers, why, err := tn.approvals(ctx); err != nil || !slices.Equal(approvers, []string{"carol"}) || why != "" {
		t.Errorf("approvers = %v (why %q, %v), want [carol]", approvers, why, err)
	}
	b.fake.AddReview(b.repo, 1, githubtest.Review{User: "carol", State: "DISMISSED", CommitID: head})
	tn, _ = b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, 1))
	_, why, err := tn.approvals(ctx)
	if err != nil || !strings.Contains(why, "Approvals by @alice, @dave, @erin, @frank do not count") {
		t.Errorf("without carol: why = %q (%v)", why, err)
	}
}

// New refuses a workflow wired without what its jobs need, naming it.
func TestNewChecksItsWiring(t *testing.T) {
	b := setup(t)
	good := b.w.Config
	tests := []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"complete", func(*Config) {}, ""},
		{"no store and no runner", func(c *Config) { c.Store, c.Runner = nil, nil }, "workflow: no Runner, Store"},
		{"no queue for drift checks", func(c *Config) { c.Enqueue = nil }, "workflow: no Enqueue"},
		{"negative parallelism", func(c *Config) { c.Parallelism = -1 }, "must not be negative"},
		{"public URL with a slash", func(c *Config) { c.PublicURL = "https://bot.example/" }, "ends in a slash"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.change(&cfg)
			_, err := New(cfg)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("New: %v, want %q", err, tc.want)
			}
		})
	}
}

// A repository off the allowlist gets no turn, and the job that asked for
// one ends without an error to retry.
func TestNoTurnForAnUnservedRepository(t *testing.T) {
	b := setup(t)
	b.w.Serves = func(repo string) bool { return repo == "acme/other" }
	_, err := b.w.newTurn(context.Background(), githubtest.InstallationID, b.gh, gh.PullRequest{})
	if !errors.Is(err, errNotServed) {
		t.Fatalf("newTurn: %v, want errNotServed", err)
	}
	if err := b.w.jobResult(b.gh.FullName(), err); err != nil {
		t.Errorf("the job's result: %v, want nil", err)
	}
}
