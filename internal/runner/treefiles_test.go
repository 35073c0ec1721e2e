package runner

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestTreeFilesCountsWhatACheckoutWouldExtract(t *testing.T) {
	dir := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=t", "-c", "user.email=t@example.com"}, args...)...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	for _, f := range []string{"stagebot.yaml", "terraform/tenant/main.tf", "terraform/tenants/a b.tfvars", "terraform/tenants/c\nd.tfvars"} {
		p := filepath.Join(dir, filepath.FromSlash(f))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("main.tf", filepath.Join(dir, "terraform/tenant/link.tf")); err != nil {
		t.Fatal(err)
	}
	git("add", "-A")
	git("commit", "-qm", "tree")
	sha := git("rev-parse", "HEAD")

	r := newRunner(t, nil)
	// Four files and a symlink; directories are not counted, and names
	// with spaces or newlines are one file each.
	n, err := r.TreeFiles(context.Background(), Source{Local: dir}, sha)
	if err != nil || n != 5 {
		t.Errorf("TreeFiles = %d, %v; want 5", n, err)
	}
	if _, err := r.TreeFiles(context.Background(), Source{Local: dir}, strings.Repeat("0", 40)); err == nil {
		t.Error("TreeFiles of a commit that does not exist: no error")
	}
}
