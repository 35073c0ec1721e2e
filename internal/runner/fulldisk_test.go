package runner

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fill writes a file into dir until its disk is full and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "filler")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 256<<10)
	for {
		if _, err := f.Write(buf); err != nil {
			return p
		}
	}
}

// A disk that fills up while a PR is planned, and is freed again: the plan
// is tried again and succeeds, and what is kept is the whole plan (its
// hash checked where it is read, shown in full); a disk that stays full
// fails the plan and keeps nothing.
func TestPlanThroughAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs as the full disk: run it as root (scripts/test in CI is)")
	}
	disk := t.TempDir()
	if err := syscall.Mount("tmpfs", disk, "tmpfs", 0, "size=48m"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(disk, syscall.MNT_DETACH) })
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: filepath.Join(disk, "data"), Timeout: 2 * time.Minute, PlanRetries: 3, PlanRetryWait: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	resources := "resource \"terraform_data\" \"r\" {\n  count = 300\n  input = \"value-${count.index}\"\n}\n"

	// Full for two seconds: planned on a retry.
	run := stage(t, filepath.Join(disk, "ws1"), "infrastructure", map[string]string{"main.tf": backend(t.TempDir(), "s1") + resources})
	filler := fill(t, disk)
	go func() {
		time.Sleep(2 * time.Second)
		os.Remove(filler)
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
	filler = fill(t, disk)
	defer os.Remove(filler)
	if _, err := r.Plan(context.Background(), run2); err == nil {
		t.Fatal("a plan on a disk that stays full succeeded")
	}
	if _, err := r.CheckPlan(context.Background(), run2); err == nil {
		t.Error("a plan that failed on a full disk can be applied")
	}
}
