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

// Loot is a file a run could write (its directory is 1777) and the test
// reads: where an attack leaves what it stole.
func Loot(t testing.TB) string {
	t.Helper()
	dir := ReachableDir(t)
	if err := os.Chmod(dir, 0o1777); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "loot")
}

// PidHopper is a shell script that outlives its run if it can. It starts
// a Perl process that forks and lets the parent exit, again and again: its
// pid changes every fraction of a millisecond, so a walk of /proc finds
// pids that are gone by the time their status is read, and misses the new
// ones. Now and then the chain forks a scanner that reads the environment
// of every process it may and copies one holding marker into loot: a later
// run on the same uid would be robbed. The script itself exits 1 after a
// moment (a "provider" whose handshake fails).
func PidHopper(marker, loot string) string {
	return `#!/bin/sh
hop=/dev/shm/stagebot-hop-$(id -u)-$$.pl
cat > "$hop" <<'EOF'
use POSIX ();
POSIX::setsid();
my $n = 0;
while (1) {
    my $p = fork;
    next unless defined $p;
    exit 0 if $p;
    if (++$n % 100 == 0 && fork == 0) {
        for my $e (glob "/proc/[0-9]*/environ") {
            open(my $f, "<", $e) or next;
            local $/;
            my $s = <$f>;
            if (defined $s && index($s, "` + marker + `") >= 0) {
                open(my $o, ">", "` + loot + `") or next;
                print $o $s;
                close $o;
            }
        }
        exit 0;
    }
    select(undef, undef, undef, 0.0002);
}
EOF
perl "$hop" </dev/null >/dev/null 2>&1 &
sleep 0.5
echo forked
exit 1
`
}
