package runner

import (
	"archive/tar"
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Source is where a repository's commits come from: a remote URL with an
// installation token, or a local git repository (bot plan).
type Source struct {
	URL   string
	Token string
	Local string
}

// Checkout makes dest a copy of the tree at sha (no .git): the workspace the
// stages run in. An existing complete checkout is reused.
func (r *Runner) Checkout(ctx context.Context, src Source, sha, dest string) error {
	if _, err := os.Stat(filepath.Join(dest, ".stagebot-checkout")); err == nil {
		return nil
	}
	gitDir := src.Local
	if gitDir == "" {
		var err error
		if gitDir, err = r.fetch(ctx, src, sha); err != nil {
			return err
		}
	}
	tmp := dest + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "archive", "--format=tar", sha)
	cmd.Env = gitEnv("")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git archive %s: %w", shortSHA(sha), err)
	}
	extractErr := untar(out, tmp, r.maxCheckout)
	if extractErr != nil {
		cmd.Process.Kill()
	}
	if err := cmd.Wait(); err != nil && extractErr == nil {
		return fmt.Errorf("check out %s: %s", shortSHA(sha), strings.TrimSpace(stderr.String()))
	}
	if extractErr == nil {
		extractErr = checkLinks(tmp)
	}
	if extractErr != nil {
		return fmt.Errorf("check out %s: %w", shortSHA(sha), extractErr)
	}
	if err := os.WriteFile(filepath.Join(tmp, ".stagebot-checkout"), []byte(sha+"\n"), 0o600); err != nil {
		return err
	}
	os.RemoveAll(dest)
	if err := r.mkdirs(filepath.Dir(dest)); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// mkdirs makes the directories down to a checkout: 0711 when the sandbox's
// users must pass through them to reach their checkout (enter, not list).
func (r *Runner) mkdirs(dir string) error {
	mode := os.FileMode(0o700)
	if r.sandbox.Isolated() {
		mode = 0o711
	}
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	for d := dir; strings.HasPrefix(d, filepath.Join(r.dataDir, "workspaces")+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, mode); err != nil {
			return err
		}
	}
	return nil
}

// fetch brings sha into a bare mirror of the repository and returns it.
func (r *Runner) fetch(ctx context.Context, src Source, sha string) (string, error) {
	sum := sha256.Sum256([]byte(src.URL))
	mirror := filepath.Join(r.dataDir, "git", hex.EncodeToString(sum[:8])+".git")
	if err := newMirror(ctx, mirror); err != nil {
		return "", err
	}
	if runGit(ctx, mirror, "", "cat-file", "-e", sha+"^{commit}") == nil {
		return mirror, nil
	}
	if err := runGit(ctx, mirror, src.Token, "fetch", "-q", "--no-tags", src.URL, sha); err != nil {
		return "", fmt.Errorf("fetch %s: %w", shortSHA(sha), err)
	}
	return mirror, nil
}

// newMirror makes the bare mirror at path unless a sound one is there. It
// is made aside and moved in whole: a mirror cut short (a full disk) is
// never left where the next job would take it for one, and one left so
// by an earlier bot is made anew.
func newMirror(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		if runGit(ctx, path, "", "rev-parse", "--git-dir") == nil {
			return nil
		}
		if err := os.RemoveAll(path); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(path), filepath.Base(path)+".new-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once moved in
	if err := runGit(ctx, "", "", "init", "-q", "--bare", tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil && runGit(ctx, path, "", "rev-parse", "--git-dir") != nil {
		return err // not another job's mirror made meanwhile
	}
	return nil
}

// gitEnv keeps the host's git configuration out and passes the token as an
// HTTP header through the environment: never in argv, a URL or a log.
func gitEnv(token string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null"}
	if token != "" {
		auth := base64.StdEncoding.EncodeToString([]byte("x-access-token:" + token))
		env = append(env, "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=http.extraHeader", "GIT_CONFIG_VALUE_0=Authorization: Basic "+auth)
	}
	return env
}

func runGit(ctx context.Context, dir, token string, args ...string) error {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Env = gitEnv(token)
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if token != "" {
			msg = strings.ReplaceAll(msg, token, "(redacted)")
		}
		return fmt.Errorf("git %s: %v: %s", args[len(args)-1], err, msg)
	}
	return nil
}

// TreeError is a commit the bot refuses to check out (a symlink out of the
// repository, a tree past the size limit): retrying cannot help.
type TreeError struct{ Reason string }

func (e *TreeError) Error() string { return e.Reason }

// untar extracts a git archive stream into dir, refusing paths that would
// escape it, and stopping past max bytes of files.
func untar(r io.Reader, dir string, max int64) error {
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(h.Name)
		if name == "." || name == ".." || strings.HasPrefix(name, "../") || filepath.IsAbs(name) {
			continue
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += h.Size; total > max {
				return &TreeError{Reason: fmt.Sprintf("the tree is larger than the checkout limit of %d bytes (STAGEBOT_MAX_CHECKOUT_BYTES)", max)}
			}
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o700|0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, io.LimitReader(tr, h.Size))
			f.Close()
			if err != nil {
				return err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
		}
	}
}

// checkLinks refuses a tree with a symlink that leads out of it, resolved
// the way the kernel does: through the links it passes on the way, so a
// chain (a/l -> .., b/l -> ../a/l/..) is caught, as is a link to an
// absolute path. A link to nothing is refused too: what it would point at
// is decided later, by whoever creates the target.
func checkLinks(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.Type()&fs.ModeSymlink == 0 {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if _, err := root.Stat(rel); err != nil {
			link, _ := os.Readlink(p)
			return &TreeError{Reason: fmt.Sprintf("symlink %s -> %s leads out of the repository, or to nothing: refused", filepath.ToSlash(rel), link)}
		}
		return nil
	})
}

// BranchTip returns the commit a branch of the repository points at now.
func (r *Runner) BranchTip(ctx context.Context, src Source, branch string) (string, error) {
	url := src.URL
	if url == "" {
		url = src.Local
	}
	cmd := exec.CommandContext(ctx, "git", "ls-remote", "--heads", url, "refs/heads/"+branch)
	cmd.Env = gitEnv(src.Token)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("read the tip of %s: %v", branch, err)
	}
	sha, _, ok := strings.Cut(strings.TrimSpace(string(out)), "\t")
	if !ok {
		return "", fmt.Errorf("read the tip of %s: no such branch", branch)
	}
	return sha, nil
}

// IsAncestor reports whether ancestor is descendant or one of its
// ancestors, fetching both into the mirror when needed.
func (r *Runner) IsAncestor(ctx context.Context, src Source, ancestor, descendant string) (bool, error) {
	gitDir, err := r.mirror(ctx, src, ancestor, descendant)
	if err != nil {
		return false, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "merge-base", "--is-ancestor", ancestor, descendant)
	cmd.Env = gitEnv("")
	err = cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return false, nil
	}
	return false, fmt.Errorf("compare %s with %s: %w", shortSHA(ancestor), shortSHA(descendant), err)
}

// Parents returns a commit's parents, first parent first, fetching it into
// the mirror when needed.
func (r *Runner) Parents(ctx context.Context, src Source, sha string) ([]string, error) {
	out, err := r.revList(ctx, src, sha, "--parents", "-n", "1", sha)
	if err != nil {
		return nil, fmt.Errorf("read the parents of %s: %w", shortSHA(sha), err)
	}
	fields := strings.Fields(out)
	if len(fields) == 0 {
		return nil, fmt.Errorf("read the parents of %s: no such commit", shortSHA(sha))
	}
	return fields[1:], nil
}

// Ancestor returns the commit n first parents back from sha (sha~n).
func (r *Runner) Ancestor(ctx context.Context, src Source, sha string, n int) (string, error) {
	out, err := r.revList(ctx, src, sha, "--first-parent", "--skip", strconv.Itoa(n), "-n", "1", sha)
	if err != nil || out == "" {
		return "", fmt.Errorf("find the commit %d before %s: %v", n, shortSHA(sha), cmp.Or(err, errors.New("history too short")))
	}
	return out, nil
}

// mirror returns the git directory that holds the commits shas: the local
// repository, or the bot's mirror of the remote one, fetched into when
// needed.
func (r *Runner) mirror(ctx context.Context, src Source, shas ...string) (string, error) {
	if src.Local != "" {
		return src.Local, nil
	}
	var dir string
	for _, sha := range shas {
		var err error
		if dir, err = r.fetch(ctx, src, sha); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// revList runs git rev-list in the mirror holding sha.
func (r *Runner) revList(ctx context.Context, src Source, sha string, args ...string) (string, error) {
	gitDir, err := r.mirror(ctx, src, sha)
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", gitDir, "rev-list"}, args...)...)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	return strings.TrimSpace(string(out)), err
}

// MergedTree returns the tree of merging theirs into ours (git merge-tree,
// as GitHub's merge computes it), and whether the merge was clean. Both
// are fetched into the mirror when needed.
func (r *Runner) MergedTree(ctx context.Context, src Source, ours, theirs string) (string, bool, error) {
	gitDir, err := r.mirror(ctx, src, ours, theirs)
	if err != nil {
		return "", false, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "merge-tree", "--write-tree", "--no-messages", ours, theirs)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	tree, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	var exit *exec.ExitError
	switch {
	case err == nil:
		return tree, true, nil
	case errors.As(err, &exit) && exit.ExitCode() == 1:
		return tree, false, nil // conflicts
	}
	return "", false, fmt.Errorf("merge %s into %s: %w", shortSHA(theirs), shortSHA(ours), err)
}

// Tree returns a commit's tree.
func (r *Runner) Tree(ctx context.Context, src Source, sha string) (string, error) {
	out, err := r.revList(ctx, src, sha, "--no-walk", "--format=%T", sha)
	if err != nil {
		return "", fmt.Errorf("read the tree of %s: %w", shortSHA(sha), err)
	}
	// rev-list --format prints "commit <sha>" before each formatted line.
	lines := strings.Split(out, "\n")
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// FirstParents returns the commits from base (excluded) to tip along
// tip's first parents, newest first.
func (r *Runner) FirstParents(ctx context.Context, src Source, base, tip string) ([]string, error) {
	gitDir, err := r.mirror(ctx, src, base, tip)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", gitDir, "rev-list", "--first-parent", base+".."+tip)
	cmd.Env = gitEnv("")
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("list the commits from %s to %s: %w", shortSHA(base), shortSHA(tip), err)
	}
	return strings.Fields(string(out)), nil
}
