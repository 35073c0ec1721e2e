package runner

import (
	"context"
)

// Blobs lists the files (regular, executable and symlinks) of commit sha
// whose paths match one of the patterns (doublestar globs from the
// repository root), as path -> "<mode> <object>", read from git itself.
// Two commits hold the same file at a path exactly when the values are
// equal; nothing is read of the files, however large (a provider binary).
func (r *Runner) Blobs(ctx context.Context, src Source, sha string, patterns []string) (map[string]string, error) {
	_, blobs, err := r.blobsOf(ctx, src, sha, patterns)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(blobs))
	for _, b := range blobs {
		out[b.path] = b.mode + " " + b.object
	}
	return out, nil
}
