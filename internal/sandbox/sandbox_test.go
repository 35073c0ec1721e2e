package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// TestMain lets the test binary be the sandbox's launcher, as the bot's
// binary is.
func TestMain(m *testing.M) {
	MaybeLaunch()
	MaybeInit()
	if os.Getenv("STAGEBOT_TEST_ORPHANS") != "" {
		os.Exit(leaveOrphans())
	}
	os.Exit(m.Run())
}

// newSandbox is a uid sandbox of the uids first..last, as the host allows
// it (namespaces, cgroups).
func newSandbox(t *testing.T, first, last int) *Sandbox {
	t.Helper()
	sandboxtest.Root(t)
	s, err := New(Config{Mode: ModeUID, UIDs: fmt.Sprintf("%d-%d", first, last), GID: 40999, StateDir: filepath.Join(sandboxtest.ReachableDir(t), "sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs a shell script in the lease, as Terraform would run, and
// returns once the script itself has ended.
func start(t *testing.T, l *Lease, script string, env ...string) (string, error) {
	t.Helper()
	bin, extra, err := l.Command("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", script)
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "HOME=" + l.Home, "TMPDIR=" + l.Tmp}, env...)
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Dir = l.Tmp
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the run did not end: %s", out)
	}
	return string(out), err
}

// TestForkLoopDoesNotOutliveItsRun runs the fork loop and its lurker in a
// run, releases the run, and hands the same uid (a pool of one) to the
// next run, whose environment holds a secret. From outside, the uid has no
// process left after the release; the loot file never appears. It holds
// with the namespaces and cgroup the host allows, and without either,
// where the uid's own kill(-1) ends the loop.
func TestForkLoopDoesNotOutliveItsRun(t *testing.T) {
	for _, isolation := range []string{"as probed", "uid only"} {
		t.Run(isolation, func(t *testing.T) {
			s := newSandbox(t, 40990, 40990)
			if isolation == "uid only" {
				s.features = Features{}
			} else if !s.features.PID {
				t.Fatalf("this host gives runs no PID namespace: %v", s.features.Missing)
			}
			loot := sandboxtest.Loot(t)

			l, err := s.Acquire(context.Background(), Spec{})
			if err != nil {
				t.Fatal(err)
			}
			uid := l.UID
			t.Cleanup(func() { s.killUID(uid) }) // should the sandbox fail
			if out, err := start(t, l, sandboxtest.PidHopper("NEXT_RUN_SECRET", loot)); !strings.Contains(out, "forked") {
				t.Fatalf("the hostile run: %v\n%s", err, out)
			}
			if err := l.Release(); err != nil {
				t.Fatalf("release: %v", err)
			}
			if pids, _ := processesOf(uid); len(pids) > 0 {
				t.Fatalf("uid %d still runs %v after its release", uid, pids)
			}
			next, err := s.Acquire(context.Background(), Spec{})
			if err != nil {
				t.Fatal(err)
			}
			if next.UID != uid {
				t.Fatalf("a pool of one handed out uid %d, then %d", uid, next.UID)
			}
			if _, err := start(t, next, "sleep 1", "NEXT_RUN_SECRET=apply-token"); err != nil {
				t.Fatal(err)
			}
			next.Release()
			if _, err := os.Stat(loot); err == nil {
				t.Fatal("the lurker of the earlier run read the next run's environment")
			}
			if s.Quarantined() != 0 {
				t.Errorf("%d uids quarantined", s.Quarantined())
			}
		})
	}
}

// BenchmarkLaunch is what the sandbox adds to each program a run starts
// (Terraform runs four or five per plan): the launcher, the run's
// namespaces and cgroup, its init, the drop to the slot's uid. Compare
// BenchmarkDirect.
func BenchmarkLaunch(b *testing.B) {
	sandboxtest.Root(b)
	s, err := New(Config{Mode: ModeUID, UIDs: "40970-40970", GID: 40999, StateDir: filepath.Join(sandboxtest.ReachableDir(b), "sandbox")})
	if err != nil {
		b.Fatal(err)
	}
	l, err := s.Acquire(context.Background(), Spec{Egress: []string{"registry.terraform.io"}})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Release()
	bin, extra, _ := l.Command("/bin/true")
	env := []string{}
	for k, v := range extra {
		env = append(env, k+"="+v)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(bin)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v: %s", err, out)
		}
	}
}

// BenchmarkDirect starts the same program unsandboxed.
func BenchmarkDirect(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			b.Fatal(err)
		}
	}
}
