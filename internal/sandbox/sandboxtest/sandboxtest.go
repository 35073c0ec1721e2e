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

// PidHopper is a shell script that outlives its run if it can: it starts
// a chain of processes, each of which starts the next and exits within
// milliseconds, so its pid keeps changing and a walk of /proc that kills
// what it saw kills what is already gone. Each link reads the environment
// of one process, the next link the next one, and copies any holding
// marker into loot: a later run on the same uid would be robbed. The
// script itself exits 1 after a moment (a "provider" whose handshake
// fails).
func PidHopper(marker, loot string) string {
	return `#!/bin/sh
hop=/dev/shm/stagebot-hop-$(id -u)-$$.sh
cat > "$hop" <<'EOF'
HOP=$((${HOP:-0} + 1)) /bin/sh "$0" </dev/null >/dev/null 2>&1 &
set -- /proc/[0-9]*/environ
i=$(( ${HOP:-0} % $# + 1 ))
eval "e=\${$i}"
read -r env < "$e" 2>/dev/null
case "$env" in *` + marker + `*) cp "$e" '` + loot + `' ;; esac
EOF
for chain in 1 2 3 4; do setsid /bin/sh "$hop" </dev/null >/dev/null 2>&1 & done
sleep 0.5
echo forked
exit 1
`
}
