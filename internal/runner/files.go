package runner

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
)

// maxPolicyFile bounds one file ReadFiles returns.
const maxPolicyFile = 1 << 20

// ReadFiles returns the regular files of commit sha whose paths match one
// of the patterns (doublestar globs from the repository root), by path,
// read from git itself: nothing of a checkout, which a PR could have
// changed, is trusted. Symlinks are skipped; a file over 1 MiB is an error.
func (r *Runner) ReadFiles(ctx context.Context, src Source, sha string, patterns []string) (map[string][]byte, error) {
	gitDir, err := r.mirror(ctx, src, sha)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "ls-tree", "-r", "-z", "--full-tree", "-l", sha)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the files of %s: %w", shortSHA(sha), err)
	}
	files := map[string][]byte{}
	for _, entry := range bytes.Split(out, []byte{0}) {
		// <mode> SP <type> SP <object> SP+ <size> TAB <path>
		meta, path, ok := strings.Cut(string(entry), "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 4 || fields[1] != "blob" || (fields[0] != "100644" && fields[0] != "100755") {
			continue
		}
		if !matchAny(patterns, path) {
			continue
		}
		var size int64
		fmt.Sscan(fields[3], &size)
		if size > maxPolicyFile {
			return nil, fmt.Errorf("%s at %s is %d bytes, more than %d", path, shortSHA(sha), size, maxPolicyFile)
		}
		cat := exec.CommandContext(ctx, "git", "-C", gitDir, "cat-file", "blob", fields[2])
		cat.Env = gitEnv("")
		content, err := cat.Output()
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", path, shortSHA(sha), err)
		}
		files[path] = content
	}
	return files, nil
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if ok, _ := doublestar.Match(p, path); ok {
			return true
		}
	}
	return false
}
