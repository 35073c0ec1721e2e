package runner

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Maintenance packs the git mirror without taking a commit that a run just
// fetched: fetched by sha, it is referenced by no branch of the mirror.
func TestMaintenanceKeepsFetchedCommits(t *testing.T) {
	remote := t.TempDir()
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", remote}, args...)...)
		cmd.Env = append(gitEnv(""), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	git("init", "-q", "-b", "main")
	git("config", "uploadpack.allowAnySHA1InWant", "true")
	git("commit", "-q", "--allow-empty", "-m", "base")
	git("checkout", "-q", "-b", "pr")
	git("commit", "-q", "--allow-empty", "-m", "head of a pull request")
	sha := git("rev-parse", "HEAD")

	r := newRunner(t, nil)
	src := Source{URL: "file://" + filepath.ToSlash(remote)}
	ctx := context.Background()
	if _, err := r.Blobs(ctx, src, sha, []string{"**"}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Maintain(ctx, Retention{}); err != nil {
		t.Fatal(err)
	}
	// The run that fetched it reads it again, with no fetch in between.
	mirror, _ := filepath.Glob(filepath.Join(r.dataDir, "git", "*.git"))
	if len(mirror) != 1 {
		t.Fatalf("mirrors %v", mirror)
	}
	if out, err := exec.Command("git", "-C", mirror[0], "cat-file", "-e", sha+"^{commit}").CombinedOutput(); err != nil {
		t.Errorf("maintenance took the fetched commit from the mirror: %v %s", err, out)
	}
}
