// Package sandboxtest gives tests of the uid sandbox directories its users
// can reach.
package sandboxtest

import (
	"os"
	"path/filepath"
	"testing"
)

// Root fails the test unless it runs as root: the uid sandbox drops
// Terraform to uids of its own, which only root may do.
func Root(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("the sandbox tests run as root: the uid sandbox drops Terraform to uids of its own (scripts/test runs as root in CI)")
	}
}

// ReachableDir is a temporary directory the sandbox's users may enter
// (t.TempDir's parent is 0700).
func ReachableDir(t testing.TB) string {
	t.Helper()
	Root(t)
	d := t.TempDir()
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// SharedDir is a directory of the sandbox's shared group gid, where its
// runs keep local state as they would share a remote backend.
func SharedDir(t testing.TB, gid int) string {
	t.Helper()
	d := ReachableDir(t)
	if err := os.Chown(d, 0, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o770|os.ModeSetgid); err != nil {
		t.Fatal(err)
	}
	return d
}
