package runner

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// Blobs lists the files (regular, executable and symlinks) of commit sha
// whose paths match one of the patterns (doublestar globs from the
// repository root), as path -> "<mode> <object>", read from git itself.
// Two commits hold the same file at a path exactly when the values are
// equal; nothing is read of the files, however large (a provider binary).
func (r *Runner) Blobs(ctx context.Context, src Source, sha string, patterns []string) (map[string]string, error) {
	gitDir, err := r.mirror(ctx, src, sha)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "ls-tree", "-r", "-z", "--full-tree", sha)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the files of %s: %w", shortSHA(sha), err)
	}
	blobs := map[string]string{}
	for _, entry := range bytes.Split(out, []byte{0}) {
		// <mode> SP <type> SP <object> TAB <path>
		meta, path, ok := strings.Cut(string(entry), "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 3 || fields[1] != "blob" || !matchAny(patterns, path) {
			continue
		}
		blobs[path] = fields[0] + " " + fields[2]
	}
	return blobs, nil
}
