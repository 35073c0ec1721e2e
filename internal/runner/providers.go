package runner

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
	file := filepath.Join(l.Home, "stagebot.tfrc")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write the run's Terraform CLI config: %w", err)
	}
	return os.Chmod(file, 0o644)
}

// promoteProviders copies the providers a trusted run installed in dir's
// .terraform/providers into the cache, each version and platform the
// cache lacks, through a temporary directory renamed into place. Only
// regular files and directories are copied.
func (r *Runner) promoteProviders(dir string) {
	ctx := context.Background()
	unlock, err := r.lockPluginCache(ctx)
	if err != nil {
		return
	}
	defer unlock()
	src := filepath.Join(dir, ".terraform", "providers")
	platforms, _ := filepath.Glob(filepath.Join(src, "*", "*", "*", "*", "*"))
	for _, p := range platforms {
		rel, err := filepath.Rel(src, p)
		if err != nil {
			continue
		}
		dst := filepath.Join(r.cacheDir, rel)
		if _, err := os.Lstat(dst); err == nil {
			continue
		}
		if st, err := os.Lstat(p); err != nil || !st.IsDir() {
			continue // a link into a cache, or a file where a dir belongs
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
