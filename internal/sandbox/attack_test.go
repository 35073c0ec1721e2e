package sandbox

// Attacks on the sandbox as a pull request's Terraform would make them
// (data "external", a provider binary in terraform.d/plugins: any program
// running as the slot's uid inside the run). Each test asserts the secure
// behaviour and fails while the hole is open.

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// unixServer listens on a Unix socket at path (mode 0777, as PostgreSQL's
// unix_socket_permissions default, Docker's socket to its group, a
// sidecar's socket in a shared emptyDir) and answers every connection with
// banner.
func unixServer(t *testing.T, network, path, banner string) {
	t.Helper()
	ln, err := net.Listen(network, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	if network == "unix" {
		os.Chmod(path, 0o777)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintln(c, banner)
			c.Close()
		}
	}()
}

// TestAttackUnixSocketsBypassTheNetworkNamespace: the run's network namespace
// has only a loopback, and "every other connection is refused" (README).
// But a network namespace does not isolate Unix sockets bound to a path:
// those are files, and the run sees the host's whole file system (its
// mount namespace is a private copy of the bot's, not a new root). Any
// socket on the host whose directory and mode let "other" connect is
// reachable by the PR's Terraform: a PostgreSQL server's socket (default
// mode 0777; on this very machine the test database listens at
// /tmp/sb/pg/.s.PGSQL.25432 and a sandbox uid in an empty netns logs in as
// postgres through it), a sidecar's socket in a shared volume, a
// Docker/containerd socket. The attack: connect(2) to the path.
//
// Abstract sockets (@name) are per network namespace: the second half of
// the test checks that those stay unreachable (stopped).
func TestAttackUnixSocketsBypassTheNetworkNamespace(t *testing.T) {
	s := newSandbox(t, 40940, 40940)
	if !s.features.Net {
		t.Fatalf("this host gives runs no network namespace: %v", s.features.Missing)
	}
	// Where such sockets live: /run (/var/run). The run gets a /run of its
	// own. (A socket others may connect to elsewhere, under /tmp say, is
	// in reach: README "Isolation" says so.)
	sockDir := filepath.Join("/run", fmt.Sprintf("stagebot-attack-%d", os.Getpid()))
	if err := os.Mkdir(sockDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	sock := filepath.Join(sockDir, ".s.PGSQL.5432")
	unixServer(t, "unix", sock, "host-database-says-hi")
	abstract := fmt.Sprintf("@stagebot-zz-attack-%d", os.Getpid())
	unixServer(t, "unix", abstract, "abstract-socket-says-hi")

	l, err := s.Acquire(context.Background(), Spec{Egress: []string{"registry.terraform.io"}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	script := fmt.Sprintf(`
perl -MIO::Socket::UNIX -e '$s = IO::Socket::UNIX->new(Peer => $ARGV[0]) or do { print "NO-CONNECTION-PATH\n"; exit 0 }; print <$s>' %s
perl -MSocket -e 'socket(my $s, AF_UNIX, SOCK_STREAM, 0) or die; connect($s, pack_sockaddr_un("\0" . $ARGV[0])) or do { print "NO-CONNECTION-ABSTRACT\n"; exit 0 }; print <$s>' %s
`, shellQuote(sock), shellQuote(strings.TrimPrefix(abstract, "@")))
	out, err := start(t, l, script)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if strings.Contains(out, "host-database-says-hi") {
		t.Errorf("HOLE: the run, in its network namespace, reached a Unix socket of the host (%s): the egress allowlist does not cover Unix sockets\n%s", sock, out)
	}
	if strings.Contains(out, "abstract-socket-says-hi") {
		t.Errorf("HOLE: the run reached an abstract Unix socket of the bot's network namespace\n%s", out)
	}
}

// TestAttackRunLeavesFilesBehindForTheNextRunOfItsUid: "a run cannot outlive
// its release" and the uid is "proven free" before it is handed out again:
// of processes. A run's files in the host's world-writable directories
// (/dev/shm, /tmp, /var/tmp) are neither removed nor made inaccessible:
// they stay owned by the slot's uid, so the next run of that uid (another
// PR's, or a merge with apply credentials) finds them as its own. The
// attack: PR A's run writes into /dev/shm (RAM: a run can also leave
// gigabytes there that nothing ever frees) and a later run of the same uid
// reads, or is fed, what is left. This host already shows it:
// /dev/shm holds files of uids 40000, 40990, ... from earlier test runs.
func TestAttackRunLeavesFilesBehindForTheNextRunOfItsUid(t *testing.T) {
	s := newSandbox(t, 40941, 40941)
	l, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	uid := l.UID
	var left []string
	for _, d := range []string{"/dev/shm", "/tmp", "/var/tmp"} {
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			left = append(left, filepath.Join(d, fmt.Sprintf("stagebot-zz-attack-%d-%d", uid, os.Getpid())))
		}
	}
	t.Cleanup(func() {
		for _, p := range left {
			os.Remove(p)
		}
	})
	var script strings.Builder
	for _, p := range left {
		fmt.Fprintf(&script, "echo run-A-was-here > %s; chmod 600 %s\n", shellQuote(p), shellQuote(p))
	}
	if out, err := start(t, l, script.String()); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	next, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	defer next.Release()
	if next.UID != uid {
		t.Fatalf("a pool of one handed out %d then %d", uid, next.UID)
	}
	script.Reset()
	for _, p := range left {
		fmt.Fprintf(&script, "cat %s 2>/dev/null || echo GONE\n", shellQuote(p))
	}
	out, err := start(t, next, script.String())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if n := strings.Count(out, "run-A-was-here"); n > 0 {
		t.Errorf("HOLE: %d files the earlier run of uid %d left in %v survived its release and were read by the next run of that uid:\n%s", n, uid, left, out)
	}
}

// TestAttackRunCgroupLimitsNothing: each run has a cgroup of its own, but the
// sandbox writes no limit into it (no pids.max, no memory.max): a fork
// bomb or a memory hog in a plan (a data "external" with ":(){ :|:& };:")
// exhausts the host's pids or memory, and the bot (same host or pod)
// cannot fork Terraform for anyone else, or is OOM-killed, until the run's
// timeout. It does not let the run outlive its release, but it is the
// "fill the cgroup" attack on the bot's availability. The test only reads
// the limits of a running run's cgroup; it forks no bomb.
func TestAttackRunCgroupLimitsNothing(t *testing.T) {
	s := newSandbox(t, 40942, 40942)
	l, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if l.cgroup == "" {
		t.Fatalf("HOLE: runs get no cgroup on this host (%v), so nothing bounds their processes or memory", s.features.Missing)
	}
	limit := func(name string) string {
		b, err := os.ReadFile(filepath.Join(l.cgroup, name))
		if err != nil {
			return "absent (controller not enabled for stagebot-runs)"
		}
		return strings.TrimSpace(string(b))
	}
	// Where the host's cgroup v2 has no pids or memory controller for the
	// runs, there is nothing to write: the bot says so at start.
	said := strings.Contains(strings.Join(s.features.Missing, "\n"), "cgroup limits")
	for _, f := range []string{"pids.max", "memory.max"} {
		if v := limit(f); v == "max" || strings.HasPrefix(v, "absent") && !said {
			t.Errorf("HOLE: the run's cgroup %s has %s = %s: a fork bomb or memory hog in a plan takes the host down", l.cgroup, f, v)
		}
	}
}

// TestAttackEgressRebindHelper is the part of TestAttackEgressRebindsToPrivateAddresses
// that runs in network and mount namespaces of the test's own, where
// /etc/hosts is the attacker's DNS.
func TestAttackEgressRebindHelper(t *testing.T) {
	spec := os.Getenv("STAGEBOT_ZZ_REBIND")
	if spec == "" {
		return // run by TestAttackEgressRebindsToPrivateAddresses
	}
	hosts := spec
	if err := unix.Mount(hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind /etc/hosts: %v", err)
	}
	for _, args := range [][]string{
		{"link", "set", "lo", "up"},
		{"addr", "add", "10.77.0.5/32", "dev", "lo"},       // the bot's own pod IP
		{"addr", "add", "100.100.100.200/32", "dev", "lo"}, // Alibaba Cloud's metadata service
		{"addr", "add", "fd00:ec2::254/128", "dev", "lo"},  // AWS IMDS over IPv6 (Nitro)
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	// The bot's HTTP server listens on :8080 (every address), as
	// STAGEBOT_LISTEN's default; the metadata services on port 80.
	serve := func(addr, banner string) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, banner) }))
	}
	serve(":18080", "bot-http-port-says-hi")
	serve("100.100.100.200:80", "alibaba-metadata-says-hi")
	serve("[fd00:ec2::254]:80", "aws-imds-v6-says-hi")
	serve("127.0.0.1:80", "loopback-says-hi")

	dir := t.TempDir()
	var log strings.Builder
	p, err := startProxy(filepath.Join(dir, "p.sock"), []string{"*.mirror.example:18080", "*.mirror.example:80"}, &log)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	for _, name := range []string{"bot.mirror.example:18080", "ali.mirror.example:80", "imds.mirror.example:80", "lo.mirror.example:80"} {
		c, err := net.Dial("unix", p.socket)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\nGET / HTTP/1.0\r\n\r\n", name, name)
		br := bufio.NewReader(c)
		var b strings.Builder
		for {
			line, err := br.ReadString('\n')
			b.WriteString(line)
			if err != nil {
				break
			}
		}
		c.Close()
		fmt.Printf("RESULT %s %s\n", name, strconv.Quote(b.String()))
	}
}

// TestAttackEgressRebindsToPrivateAddresses: the proxy's dialer refuses a name
// that resolves to the bot's loopback or to a link-local address ("a
// cloud's metadata service"), so that a wildcard entry whose DNS the PR's
// author can steer (a name under "*.example.com" of a zone with
// user-created records, a DNS rebinding service) cannot lead inside. But
// it lets through every other address: the bot's own pod or host address
// (where its webhook, /metrics and dashboard listen on :8080, and the
// state backend or database next to it), the cluster's private network
// (10/8, 172.16/12, 192.168/16: the kube-apiserver, other pods), and the
// metadata services that are not link-local: AWS IMDS over IPv6
// (fd00:ec2::254) and Alibaba's (100.100.100.200). The attack: CONNECT to
// <name under an allowed wildcard>:port whose A/AAAA record is one of
// those. The test plays DNS with /etc/hosts in namespaces of its own.
func TestAttackEgressRebindsToPrivateAddresses(t *testing.T) {
	sandboxtest.Root(t)
	hosts := filepath.Join(t.TempDir(), "hosts")
	os.WriteFile(hosts, []byte("127.0.0.1 localhost\n::1 localhost\n10.77.0.5 bot.mirror.example\n100.100.100.200 ali.mirror.example\nfd00:ec2::254 imds.mirror.example\n127.0.0.1 lo.mirror.example\n"), 0o644)
	cmd := exec.Command("unshare", "--net", "--mount", "--propagation", "private", os.Args[0], "-test.run", "^TestAttackEgressRebindHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "STAGEBOT_ZZ_REBIND="+hosts)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	results := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(line, "RESULT "); ok {
			name, q, _ := strings.Cut(rest, " ")
			results[name], _ = strconv.Unquote(q)
		}
	}
	if len(results) != 4 {
		t.Fatalf("helper output:\n%s", out)
	}
	if strings.Contains(results["lo.mirror.example:80"], "loopback-says-hi") {
		t.Errorf("a name resolving to 127.0.0.1 reached the loopback:\n%s", results["lo.mirror.example:80"])
	}
	for name, banner := range map[string]string{
		"bot.mirror.example:18080": "bot-http-port-says-hi",
		"ali.mirror.example:80":    "alibaba-metadata-says-hi",
		"imds.mirror.example:80":   "aws-imds-v6-says-hi",
	} {
		if strings.Contains(results[name], banner) {
			t.Errorf("HOLE: CONNECT %s, a name under an allowed wildcard resolving to a private/metadata address, was tunnelled:\n%s", name, results[name])
		}
	}
}

// TestAttackRunCannotTouchItsInitOrOtherRuns tries what was stopped: signal
// the root init (PID 1 of the run), read its environment, move itself out
// of its cgroup (into the base, whose cgroup.kill would then miss it), and
// find a concurrent run's secret in /proc. It passes: each is refused.
func TestAttackRunCannotTouchItsInitOrOtherRuns(t *testing.T) {
	s := newSandbox(t, 40943, 40944)
	if !s.features.PID || s.features.Cgroup == "" {
		t.Fatalf("no PID namespace or cgroup here: %v", s.features.Missing)
	}
	other, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release()
	bin, extra, _ := other.Command("/bin/sh")
	oc := exec.Command(bin, "-c", "sleep 5")
	oc.Env = []string{"PATH=/usr/bin:/bin", "OTHER_RUN_SECRET=zz-other-secret"}
	for k, v := range extra {
		oc.Env = append(oc.Env, k+"="+v)
	}
	if err := oc.Start(); err != nil {
		t.Fatal(err)
	}
	defer oc.Wait()
	time.Sleep(500 * time.Millisecond)
	l, err := s.Acquire(context.Background(), Spec{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	script := fmt.Sprintf(`
kill -9 1 2>/dev/null && echo KILLED-INIT
kill -STOP 1 2>/dev/null && echo STOPPED-INIT
cat /proc/1/environ 2>/dev/null | tr '\0' '\n' | head -3 | sed 's/^/INIT-ENV /'
echo $$ > %s/cgroup.procs 2>/dev/null && echo MOVED-CGROUP
grep -l zz-other-secret /proc/[0-9]*/environ 2>/dev/null | sed 's/^/FOUND /'
ls /proc | grep -c '^[0-9]' | sed 's/^/PIDS-SEEN /'
`, s.features.Cgroup)
	out, err := start(t, l, script)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	t.Logf("the run saw:\n%s", out)
	for _, bad := range []string{"KILLED-INIT", "STOPPED-INIT", "INIT-ENV", "MOVED-CGROUP", "FOUND"} {
		if strings.Contains(out, bad) {
			t.Errorf("the run did %s:\n%s", bad, out)
		}
	}
}

// TestAttackLinksARunLeavesOutOfTheCheckoutAreRemoved: the run owns its
// stage dir and may leave links there for the bot to follow as root later
// (a chart's file rendered into a comment, a module). When the run ends,
// a link leading out of the checkout, or to nothing, is removed; one that
// stays inside is kept, as git may have made it.
func TestAttackLinksARunLeavesOutOfTheCheckoutAreRemoved(t *testing.T) {
	s := newSandbox(t, 40945, 40945)
	root := filepath.Join(sandboxtest.ReachableDir(t), "checkout")
	stage := filepath.Join(root, "stage")
	if err := os.MkdirAll(stage, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "inside.txt"), []byte("inside"), 0o644)
	l, err := s.Acquire(context.Background(), Spec{Root: root, WriteDir: stage})
	if err != nil {
		t.Fatal(err)
	}
	script := "cd " + shellQuote(stage) + " && ln -s /etc/shadow out && ln -s ../inside.txt in && ln -s nowhere dangling && ln -s out chained"
	if out, err := start(t, l, script); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	for name, kept := range map[string]bool{"out": false, "dangling": false, "chained": false, "in": true} {
		_, err := os.Lstat(filepath.Join(stage, name))
		if (err == nil) != kept {
			t.Errorf("link %s: kept %v, want %v", name, err == nil, kept)
		}
	}
}
