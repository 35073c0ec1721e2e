package workflow

import (
	"context"
	"testing"
	"time"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/jobs"
)

// No check run stays in progress for good: one a job opened and never
// completed (the job was given up, its bot died) is completed as cancelled
// by the maintenance once no job can be at it; one the job completed, and
// one still young, are left as they are.
func TestCheckRunsLeftInProgressAreSwept(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	client := b.w.client(githubtest.InstallationID)
	open := func(name string) int64 {
		id, err := client.CreateCheckRun(ctx, b.gh, gh.CheckRun{Name: name, HeadSHA: b.base, Status: "in_progress", Title: "Planning"})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	orphan, done := open("stagebot/infrastructure"), open("stagebot/platform")
	if err := client.UpdateCheckRun(ctx, b.gh, done, gh.CheckRun{Name: "stagebot/platform", HeadSHA: b.base, Status: "completed", Conclusion: "success", Title: "Planned"}); err != nil {
		t.Fatal(err)
	}
	b.w.SweepChecksAfter = time.Hour
	young := open("stagebot/tenant")
	if err := b.w.Maintenance(ctx, jobs.MaintenanceJob{}); err != nil {
		t.Fatal(err)
	}
	if c := checkRun(b, orphan); c.Status != "in_progress" {
		t.Fatalf("a check run younger than any job swept: %+v", c)
	}
	b.w.SweepChecksAfter = time.Millisecond
	time.Sleep(5 * time.Millisecond)
	for range 2 { // the second sweep finds nothing left
		if err := b.w.Maintenance(ctx, jobs.MaintenanceJob{}); err != nil {
			t.Fatal(err)
		}
	}
	if c := checkRun(b, orphan); c.Status != "completed" || c.Conclusion != "cancelled" || c.Title != "Not finished" || c.Updates != 1 {
		t.Errorf("the orphan check run: %+v", c)
	}
	if c := checkRun(b, done); c.Conclusion != "success" || c.Updates != 1 {
		t.Errorf("the completed check run was touched: %+v", c)
	}
	if c := checkRun(b, young); c.Conclusion != "cancelled" {
		t.Errorf("the third check run, now old too: %+v", c)
	}
}

func checkRun(b *testBundle, id int64) githubtest.CheckRun {
	for _, c := range b.fake.CheckRuns(b.repo) {
		if c.ID == id {
			return c
		}
	}
	return githubtest.CheckRun{}
}
