package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/stages"
)

// units are n instances of stage tenant and the plain stages named.
func units(n int, plain ...string) []stages.Affected {
	var out []stages.Affected
	for _, s := range plain {
		out = append(out, stages.Affected{Stage: config.Stage{Name: s}})
	}
	for i := range n {
		inst := fmt.Sprintf("t%d", i)
		out = append(out, stages.Affected{Stage: config.Stage{Name: "tenant:" + inst, Base: "tenant", Instance: inst}})
	}
	return out
}

func TestLimitsOfAPush(t *testing.T) {
	l := Limits{Instances: 200, Stages: 2, ChangedFiles: 3000}
	for _, tc := range []struct {
		name     string
		affected []stages.Affected
		changed  int
		want     *comments.Limit
	}{
		{"within", units(200, "platform"), 3000, nil},
		{"instances", units(5000), 10, &comments.Limit{What: "instances to plan", Count: 5000, Max: 200, Setting: "STAGEBOT_MAX_INSTANCES"}},
		{"stages, an instanced one once", units(3, "infrastructure", "platform"), 10, &comments.Limit{What: "changed stages", Count: 3, Max: 2, Setting: "STAGEBOT_MAX_STAGES"}},
		{"changed files", nil, 3001, &comments.Limit{What: "changed files", Count: 3001, Max: 3000, Setting: "STAGEBOT_MAX_CHANGED_FILES"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := l.affected(tc.affected)
			if c := l.changedFiles(gh.PullRequest{ChangedFiles: tc.changed}); c != nil {
				got = c
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if got := (Limits{}).affected(units(100000)); got != nil {
		t.Errorf("no limits: %+v", got)
	}
}

func TestQuotaWait(t *testing.T) {
	now := time.Now()
	reset := now.Add(20 * time.Minute)
	for _, tc := range []struct {
		name         string
		calls, share int
		remaining    int
		want         time.Duration
	}{
		{"within the share", 100, 50, 200, 0},
		{"past the share", 101, 50, 200, 20*time.Minute + time.Second},
		{"never waits", 4000, 0, 10, 0},
		// Even a renewed quota's half would not do: waiting never ends.
		{"past a full quota's share", 2600, 50, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quotaWait(tc.calls, tc.share, gh.Rate{Limit: 5000, Remaining: tc.remaining, Reset: reset}, now)
			if got != tc.want {
				t.Errorf("quotaWait = %s, want %s", got, tc.want)
			}
		})
	}
	// 200 instances with a check run each, or sharing the stage's one.
	if got := pushCalls(units(200, "platform"), 201); got != 2*201+2*2+4 {
		t.Errorf("pushCalls with a check run an instance = %d", got)
	}
	if got := pushCalls(units(200, "platform"), 20); got != 2*2+2*2+4 {
		t.Errorf("pushCalls with one check run for the instances = %d", got)
	}
}

// Past a limit, affected tells the PR in one comment and one failed check
// run, before it lists the changed files (past that limit) or checks the
// tree out (past the tree's); a push that would spend too much of the
// quota waits.
func TestAffectedIsBounded(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		limits Limits
		quota  int // remaining quota set before (0: untouched)
		what   string
		listed bool // the changed files were listed
	}{
		{"changed files", Limits{ChangedFiles: 2}, 0, "3 changed files", false},
		{"tree files", Limits{TreeFiles: 5}, 0, "6 files in its tree", true},
		{"stages", Limits{Stages: 1}, 0, "", true},
		{"quota", Limits{QuotaShare: 50}, 6, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := setup(t)
			b.w.Limits = tc.limits
			pr := b.pull(t, 1, map[string]string{"terraform/infrastructure/a.tf": "# a\n", "terraform/infrastructure/b.tf": "# b\n", "terraform/infrastructure/c.tf": "# c\n"})
			if tc.quota > 0 {
				b.fake.SetRateRemaining(githubtest.InstallationID, tc.quota, time.Now().Add(time.Hour))
				b.read(t, 1) // the client learns it
			}
			_, _, _, err := b.w.affected(ctx, b.w.client(githubtest.InstallationID), b.gh, pr, mustParse(t, strictRules))
			if n := b.fake.RequestCount("GET", "/pulls/1/files"); (n > 0) != tc.listed {
				t.Errorf("changed files listed %d times", n)
			}
			var notes []string
			for _, c := range b.fake.Comments(b.repo, 1) {
				notes = append(notes, c.Body)
			}
			if tc.name == "quota" {
				if wait, ok := queue.Snoozed(err); !ok || wait < 59*time.Minute || len(notes) != 1 || !strings.Contains(notes[0], "waits with") {
					t.Errorf("the push does not wait for the quota: %v (%s); comments %q", err, wait, notes)
				}
				return
			}
			if tc.name == "stages" {
				// A stage within the limit: the push goes on.
				if err != nil || len(notes) != 0 {
					t.Errorf("a push within the limits: %v, comments %q", err, notes)
				}
				return
			}
			if !errors.Is(err, errReported) || len(notes) != 1 || !strings.Contains(notes[0], "**"+tc.what+"**") {
				t.Fatalf("affected = %v; comments %q", err, notes)
			}
			var checks []string
			for _, c := range b.fake.CheckRuns(b.repo) {
				checks = append(checks, c.Name+" "+c.Conclusion)
			}
			if !cmp.Equal(checks, []string{"stagebot/apply failure"}) {
				t.Errorf("check runs %q", checks)
			}
			if _, err := os.Stat(b.w.Runner.WorkspaceDir(b.gh.FullName(), 1, pr.HeadSHA)); err == nil && tc.name == "tree files" {
				t.Error("the tree past the limit was checked out")
			}
		})
	}
}

func mustParse(t *testing.T, yaml string) *config.Repo {
	t.Helper()
	cfg, err := config.ParseRepo([]byte(yaml), "")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
