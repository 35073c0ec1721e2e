package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
)

// TreeFiles counts the files of commit sha's tree (every entry but
// directories), from git, without checking the tree out: what a checkout
// would extract is bounded before it is extracted.
func (r *Runner) TreeFiles(ctx context.Context, src Source, sha string) (int, error) {
	gitDir, err := r.mirror(ctx, src, sha)
	if err != nil {
		return 0, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "ls-tree", "-r", "-z", "--full-tree", "--name-only", sha)
	cmd.Env = gitEnv("")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("list the files of %s: %w", shortSHA(sha), err)
	}
	// Counted as the listing streams by: a tree of millions of files is
	// never held in memory.
	n, err := countByte(out, 0)
	if werr := cmd.Wait(); werr != nil {
		return 0, fmt.Errorf("list the files of %s: %v: %s", shortSHA(sha), werr, bytes.TrimSpace(stderr.Bytes()))
	}
	if err != nil {
		return 0, fmt.Errorf("list the files of %s: %w", shortSHA(sha), err)
	}
	return n, nil
}

// countByte counts the occurrences of c in what r reads.
func countByte(r io.Reader, c byte) (int, error) {
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := r.Read(buf)
		n += bytes.Count(buf[:k], []byte{c})
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}
