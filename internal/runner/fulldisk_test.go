package runner

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/disktest"
)

// A disk that fills up while a PR is planned, and is freed again: the plan
// is tried again and succeeds, and what is kept is the whole plan (its
// hash checked where it is read, shown in full); a disk that stays full
// fails the plan and keeps nothing.
func TestPlanThroughAFullDisk(t *testing.T) {
	disk := disktest.Mount(t, "48m")
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: filepath.Join(disk, "data"), Timeout: 2 * time.Minute, PlanRetries: 3, PlanRetryWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resources := "resource \"terraform_data\" \"r\" {\n  count = 300\n  input = \"value-${count.index}\"\n}\n"

	// Full for two seconds: planned on a retry.
	run := stage(t, filepath.Join(disk, "ws1"), "infrastructure", map[string]string{"main.tf": backend(t.TempDir(), "s1") + resources})
	free := disktest.Fill(t, disk)
	go func() {
		time.Sleep(2 * time.Second)
		free()
	}()
	res, err := r.Plan(context.Background(), run)
	if err != nil {
		t.Fatalf("a disk full for two seconds: %v", logOf(err))
	}
	if !strings.Contains(res.Log, "planning again") || !strings.Contains(res.Text, "300 to add") {
		t.Errorf("the plan was not tried again, or is not whole:\n%s\n%s", res.Log, res.Text)
	}
	if err := r.MarkPosted(context.Background(), res.Meta); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CheckPlan(context.Background(), run); err != nil {
		t.Errorf("the kept plan does not check against its hash: %v", err)
	}

	// Full for good: the plan fails, nothing is kept to apply.
	run2 := stage(t, filepath.Join(disk, "ws2"), "platform", map[string]string{"main.tf": backend(t.TempDir(), "s2") + resources})
	defer disktest.Fill(t, disk)()
	if _, err := r.Plan(context.Background(), run2); err == nil {
		t.Fatal("a plan on a disk that stays full succeeded")
	}
	if _, err := r.CheckPlan(context.Background(), run2); err == nil {
		t.Error("a plan that failed on a full disk can be applied")
	}
}
