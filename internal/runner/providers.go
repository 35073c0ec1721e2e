package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"

	"github.com/stagebot/stagebot/internal/sandbox"
)

// The provider plugin cache is written by the bot alone. A sandboxed run
// reads it as a filesystem mirror and installs its providers into its own
// checkout; only a trusted run's providers (reviewed content of the
// default branch) are copied into it afterwards, by the bot, once the
// run's processes are proven gone. A PR cannot swap a provider binary that
// a later run executes.

// sealPluginCache makes the cache the bot's and read-only to runs; what an
// older bot let runs write there becomes the bot's too.
func (r *Runner) sealPluginCache() error {
	if err := os.Chown(r.cacheDir, 0, 0); err != nil {
		return err
	}
	return filepath.WalkDir(r.cacheDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(p, 0, 0); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode().Perm()&^0o022 | 0o444
		if d.IsDir() {
			mode |= 0o111
		}
		return os.Chmod(p, mode)
	})
}

// sandboxCLIConfig writes the CLI config of a sandboxed run: providers the
// stage brings in terraform.d/plugins (as Terraform's implied mirror
// would), then the bot's cache, read-only, then the registries. No plugin
// cache: the run writes providers only into its checkout.
func (r *Runner) sandboxCLIConfig(l *sandbox.Lease, run Run) error {
	if l.UID == 0 {
		return nil
	}
	var b strings.Builder
	b.WriteString("disable_checkpoint = true\nprovider_installation {\n")
	// As Terraform's implied mirror does, what the stage brings is not
	// also looked up in a registry.
	local := filepath.Join(run.Dir, "terraform.d", "plugins")
	var exclude []string
	if st, err := os.Stat(local); err == nil && st.IsDir() {
		fmt.Fprintf(&b, "  filesystem_mirror {\n    path = %q\n  }\n", local)
		types, _ := filepath.Glob(filepath.Join(local, "*", "*", "*"))
		for _, t := range types {
			rel, _ := filepath.Rel(local, t)
			exclude = append(exclude, fmt.Sprintf("%q", filepath.ToSlash(rel)))
		}
	}
	fmt.Fprintf(&b, "  filesystem_mirror {\n    path = %q\n  }\n  direct {\n    exclude = [%s]\n  }\n}\n", r.cacheDir, strings.Join(exclude, ", "))
	// HOME is the run's: never follow or reuse what is there.
	f, err := os.OpenFile(filepath.Join(l.Home, "stagebot.tfrc"), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("write the run's Terraform CLI config: %w", err)
	}
	_, err = f.WriteString(b.String())
	return errors.Join(err, f.Chmod(0o644), f.Close())
}

// untrustedMark, in a checkout's root, says an untrusted run (a PR's) had
// it: its stage dirs may hold anything that run wrote.
const untrustedMark = ".stagebot-untrusted"

// markTrust keeps trusted runs out of checkouts untrusted runs wrote: a
// sandboxed untrusted run marks its checkout (root's, where the run cannot
// write), and a trusted run refuses a marked one.
func (r *Runner) markTrust(run Run) error {
	if !r.sandbox.Isolated() || run.root() == "" {
		return nil
	}
	mark := filepath.Join(run.root(), untrustedMark)
	if !run.Trusted {
		return os.WriteFile(mark, nil, 0o600)
	}
	if _, err := os.Lstat(mark); err == nil {
		return errors.New("a trusted run (a merge, a drift check) refuses a checkout that a pull request's run used: check it out afresh")
	}
	return nil
}

// lockedProvider finds the providers (host/namespace/type) of a lock file.
var lockedProvider = regexp.MustCompile(`(?m)^provider "([^"/]+/[^"/]+/[^"/]+)"`)

// promoteProviders copies the providers a trusted run installed in dir's
// .terraform/providers into the cache, each version and platform the
// cache lacks, through a temporary directory renamed into place. Only the
// providers of the stage's lock file are looked at, each path component
// must be a directory (never a link), and only regular files and
// directories are copied.
func (r *Runner) promoteProviders(dir string) {
	lock, err := os.ReadFile(filepath.Join(dir, ".terraform.lock.hcl"))
	if err != nil {
		return
	}
	ctx := context.Background()
	unlock, err := r.lockPluginCache(ctx)
	if err != nil {
		return
	}
	defer unlock()
	src := filepath.Join(dir, ".terraform", "providers")
	for _, m := range lockedProvider.FindAllStringSubmatch(string(lock), -1) {
		typeDir := filepath.Join(src, filepath.FromSlash(m[1]))
		if !realDirs(src, typeDir) {
			continue
		}
		r.promoteType(src, typeDir)
	}
}

// realDirs reports whether every component of path below base is a
// directory, not a link.
func realDirs(base, path string) bool {
	rel, err := filepath.Rel(base, path)
	if err != nil || strings.HasPrefix(rel, "..") {
		return false
	}
	p := base
	for _, c := range strings.Split(rel, string(filepath.Separator)) {
		p = filepath.Join(p, c)
		if st, err := os.Lstat(p); err != nil || !st.IsDir() {
			return false
		}
	}
	return true
}

// promoteType copies each version and platform of one provider.
func (r *Runner) promoteType(src, typeDir string) {
	versions, _ := os.ReadDir(typeDir)
	for _, v := range versions {
		platforms, _ := os.ReadDir(filepath.Join(typeDir, v.Name()))
		for _, pl := range platforms {
			p := filepath.Join(typeDir, v.Name(), pl.Name())
			if !v.IsDir() || !pl.IsDir() || !realDirs(src, p) {
				continue
			}
			rel, _ := filepath.Rel(src, p)
			r.promote(p, filepath.Join(r.cacheDir, rel))
		}
	}
}

// promote copies one provider platform dir into the cache unless it is
// there.
func (r *Runner) promote(p, dst string) {
	if _, err := os.Lstat(dst); err == nil {
		return
	}
	tmp, err := os.MkdirTemp(r.cacheDir, ".promote-")
	if err != nil {
		return
	}
	if copyProvider(p, tmp) == nil && os.MkdirAll(filepath.Dir(dst), 0o755) == nil {
		os.Chmod(tmp, 0o755)
		os.Rename(tmp, dst)
	}
	os.RemoveAll(tmp)
}

// copyProvider copies the regular files and directories under src into
// dst, which exists, readable by all; anything else is skipped.
func copyProvider(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		switch {
		case rel == ".":
			return nil
		case d.IsDir():
			return os.Mkdir(target, 0o755)
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			if err := copyFile(p, target); err != nil {
				return err
			}
			return os.Chmod(target, info.Mode().Perm()&0o111|0o644)
		}
		return nil
	})
}

// lockedWriter lets several writers share one log.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
