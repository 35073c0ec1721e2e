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
	gitDir, blobs, err := r.blobsOf(ctx, src, sha, patterns)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, b := range blobs {
		if b.mode != "100644" && b.mode != "100755" {
			continue
		}
		if b.size > maxPolicyFile {
			return nil, fmt.Errorf("%s at %s is %d bytes, more than %d", b.path, shortSHA(sha), b.size, maxPolicyFile)
		}
		cat := exec.CommandContext(ctx, "git", "-C", gitDir, "cat-file", "blob", b.object)
		cat.Env = gitEnv("")
		content, err := cat.Output()
		if err != nil {
			return nil, fmt.Errorf("read %s at %s: %w", b.path, shortSHA(sha), err)
		}
		files[b.path] = content
	}
	return files, nil
}

// blob is a file of a commit's tree, as git ls-tree -l lists it.
type blob struct {
	mode, object, path string
	size               int64
}

// blobsOf lists the files (regular, executable and symlinks) of commit sha
// whose paths match one of the patterns, from the mirror holding it, whose
// git directory it returns too.
func (r *Runner) blobsOf(ctx context.Context, src Source, sha string, patterns []string) (string, []blob, error) {
	gitDir, err := r.mirror(ctx, src, sha)
	if err != nil {
		return "", nil, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "ls-tree", "-r", "-z", "--full-tree", "-l", sha)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	if err != nil {
		return "", nil, fmt.Errorf("list the files of %s: %w", shortSHA(sha), err)
	}
	var blobs []blob
	for _, entry := range bytes.Split(out, []byte{0}) {
		// <mode> SP <type> SP <object> SP+ <size> TAB <path>
		meta, path, ok := strings.Cut(string(entry), "\t")
		fields := strings.Fields(meta)
		if !ok || len(fields) != 4 || fields[1] != "blob" || !matchAny(patterns, path) {
			continue
		}
		b := blob{mode: fields[0], object: fields[2], path: path}
		fmt.Sscan(fields[3], &b.size)
		blobs = append(blobs, b)
	}
	return gitDir, blobs, nil
}

func matchAny(patterns []string, path string) bool {
	for _, p := range patterns {
		if ok, _ := doublestar.Match(p, path); ok {
			return true
		}
	}
	return false
}
