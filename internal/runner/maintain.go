package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// maxLogsPerPR bounds the Terraform logs kept per PR (or per drift
// workspace): the newest, whatever the age.
const maxLogsPerPR = 64

// PruneWorkspaces removes a PR's checkouts other than keep's (a newer
// commit's plan superseded them) and its oldest logs past maxLogsPerPR, so
// a PR with many pushes takes the room of one.
func (r *Runner) PruneWorkspaces(repo string, pr int, keep string) error {
	key := safe(strings.ReplaceAll(repo, "/", "__"))
	dir := filepath.Join(r.dataDir, "workspaces", key, fmt.Sprintf("pr-%d", pr))
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, e := range entries {
		if e.Name() != safe(keep) {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("remove superseded checkout: %w", err)
			}
		}
	}
	return pruneOldest(filepath.Join(r.dataDir, "logs", key, fmt.Sprintf("pr-%d", pr)), maxLogsPerPR)
}

// pruneOldest keeps the newest n files of dir.
func pruneOldest(dir string, n int) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || len(entries) <= n {
		return nil
	}
	if err != nil {
		return err
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, e := range entries {
		if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
			files = append(files, file{filepath.Join(dir, e.Name()), info.ModTime()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	for _, f := range files[min(n, len(files)):] {
		os.Remove(f.path)
	}
	return nil
}

// Retention says how long the data dir keeps what the bot can do without.
type Retention struct {
	// Logs older than this are deleted.
	Logs time.Duration
	// PluginCacheBytes bounds the provider plugin cache: past it, the
	// providers unused the longest are deleted (Terraform downloads them
	// again when a stage needs them).
	PluginCacheBytes int64
}

// Usage is what the data dir holds, by part (workspaces, logs, plans, git,
// terraform), in bytes and files.
type Usage map[string]struct{ Bytes, Files int64 }

// Maintain applies the retention, packs the git mirrors, and measures the
// data dir.
func (r *Runner) Maintain(ctx context.Context, keep Retention) (Usage, error) {
	if keep.Logs > 0 {
		cutoff := time.Now().Add(-keep.Logs)
		filepath.WalkDir(filepath.Join(r.dataDir, "logs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil && info.ModTime().Before(cutoff) {
					os.Remove(p)
				}
			}
			return nil
		})
	}
	if keep.PluginCacheBytes > 0 {
		if err := r.prunePluginCache(ctx, keep.PluginCacheBytes); err != nil {
			return nil, err
		}
	}
	mirrors, _ := filepath.Glob(filepath.Join(r.dataDir, "git", "*.git"))
	for _, m := range mirrors {
		// Fetched commits are referenced by no branch (fetch by sha): a prune
		// of everything unreachable now would take them from under a run
		// that just fetched them. What nothing needed for two days goes.
		cmd := exec.CommandContext(ctx, "git", "-C", m, "gc", "--quiet", "--prune=2.days.ago")
		cmd.Env = gitEnv("")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("pack git mirror: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	return r.Usage(), nil
}

// Usage measures the data dir.
func (r *Runner) Usage() Usage {
	u := Usage{}
	for _, part := range []string{"workspaces", "logs", "plans", "git", "terraform"} {
		var bytes, files int64
		filepath.WalkDir(filepath.Join(r.dataDir, part), func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					bytes += info.Size()
					files++
				}
			}
			return nil
		})
		u[part] = struct{ Bytes, Files int64 }{bytes, files}
	}
	return u
}

// prunePluginCache deletes the provider versions used the longest ago
// (their directory's modification time: Terraform writes there when it
// installs one) until the cache is within max. Inits wait meanwhile.
func (r *Runner) prunePluginCache(ctx context.Context, max int64) error {
	unlock, err := r.lockPluginCache(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	// registry/namespace/type/version: one directory per provider version.
	versions, _ := filepath.Glob(filepath.Join(r.cacheDir, "*", "*", "*", "*"))
	type version struct {
		path  string
		bytes int64
		mod   time.Time
	}
	var all []version
	var total int64
	for _, v := range versions {
		info, err := os.Stat(v)
		if err != nil || !info.IsDir() {
			continue
		}
		var size int64
		filepath.WalkDir(v, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if fi, err := d.Info(); err == nil {
					size += fi.Size()
				}
			}
			return nil
		})
		all = append(all, version{v, size, info.ModTime()})
		total += size
	}
	slices.SortFunc(all, func(a, b version) int { return a.mod.Compare(b.mod) })
	for _, v := range all {
		if total <= max {
			break
		}
		if err := os.RemoveAll(v.path); err != nil {
			return err
		}
		total -= v.bytes
	}
	return nil
}
