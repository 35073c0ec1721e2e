package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// Command is what runs Terraform for the lease: the binary to start and the
// variables to add to its environment. Not isolated: bin itself. Isolated:
// the bot's own binary as the launcher, which starts the run (see
// MaybeLaunch) and becomes, or starts, bin as the slot's user.
func (l *Lease) Command(bin string) (string, map[string]string, error) {
	if !l.s.Isolated() {
		return bin, nil, nil
	}
	sp := spec{UID: l.UID, GID: l.GID, Shared: l.s.gid, Bin: bin, Namespaces: l.s.features.PID,
		Net: l.s.features.Net, Cgroup: l.cgroup}
	env := map[string]string{}
	if l.proxy != nil {
		sp.Proxy, sp.ProxyPort, sp.Forward = l.proxy.socket, l.proxy.port, l.proxy.forward
		url := "http://127.0.0.1:" + strconv.Itoa(sp.ProxyPort)
		for _, k := range []string{"HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"} {
			env[k] = url
		}
		env["NO_PROXY"], env["no_proxy"] = "", ""
	}
	env[launchEnv] = sp.encode()
	return l.s.launcher, env, nil
}

// MaybeLaunch turns this process into one of the sandbox's helpers when it
// was started as one; otherwise it returns at once. Call it first in main,
// before anything else runs.
func MaybeLaunch() {
	var code int
	switch {
	case os.Getenv(killEnv) != "":
		code = exit(killUID(os.Getenv(killEnv)))
	case os.Getenv(initEnv) != "":
		code = runInit()
	case os.Getenv(launchEnv) != "":
		code = launch()
	default:
		return
	}
	os.Exit(code)
}

// exit reports err as the helper's failure, the way a shell reports a
// command it could not run (126).
func exit(err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(os.Stderr, "stagebot sandbox: %v\n", err)
	return 126
}

// launch starts the run. With namespaces, it starts the run's init (see
// runInit) as PID 1 of new PID, mount and IPC (and network) namespaces, in
// the run's cgroup, passes it the signals Terraform should get and exits
// as it does. Without, it joins the cgroup and becomes the program.
func launch() int {
	sp, err := takeSpec(launchEnv)
	if err != nil {
		return exit(err)
	}
	if !sp.Namespaces {
		if sp.Cgroup != "" {
			if err := os.WriteFile(sp.Cgroup+"/cgroup.procs", []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
				return exit(fmt.Errorf("join the run's cgroup: %w", err))
			}
		}
		if sp.Bin == "" {
			return 0
		}
		return exit(becomeRun(sp))
	}
	// The init is this thread's child: its parent-death signal follows the
	// thread, which must live as long as the launcher does.
	runtime.LockOSThread()
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), initEnv+"="+sp.encode())
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	flags := uintptr(unix.CLONE_NEWPID | unix.CLONE_NEWNS | unix.CLONE_NEWIPC | unix.CLONE_NEWUTS)
	if sp.Net {
		flags |= unix.CLONE_NEWNET
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: flags, Pdeathsig: syscall.SIGKILL}
	if sp.Cgroup != "" {
		dir, err := os.Open(sp.Cgroup)
		if err != nil {
			return exit(fmt.Errorf("open the run's cgroup: %w", err))
		}
		defer dir.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(dir.Fd())
	}
	if err := startForwarding(cmd, stopSignals...); err != nil {
		return exit(fmt.Errorf("start the run's namespaces: %w", err))
	}
	return exitCode(cmd.Wait())
}

// exitCode is the status a shell would report for a child's end.
func exitCode(err error) int {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	default:
		return exit(err)
	}
}

// becomeRun drops to the slot's user and groups, with no way to regain
// privileges, and executes the program with the arguments it was given.
func becomeRun(sp spec) error {
	runtime.LockOSThread()
	if err := syscall.Setgroups([]int{sp.Shared}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(sp.GID); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(sp.UID); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if os.Getuid() != sp.UID || os.Geteuid() != sp.UID {
		return fmt.Errorf("still uid %d after setuid(%d)", os.Geteuid(), sp.UID)
	}
	// A change of uid clears the parent-death signal: set it again, so
	// Terraform dies with the bot. No setuid program can give privileges
	// back.
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PDEATHSIG): %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(NO_NEW_PRIVS): %w", err)
	}
	if err := denyUserNamespaces(); err != nil {
		return err
	}
	// What Terraform creates is the slot's and its group's; a checkout is
	// no other slot's group.
	syscall.Umask(0o007)
	return syscall.Exec(sp.Bin, append([]string{sp.Bin}, os.Args[1:]...), os.Environ())
}

// killUID kills, as the slot's own user, every process that user may
// signal: all of the slot's. The kernel walks the processes under a lock
// that fork takes too, so a fork loop cannot outrun it.
func killUID(raw string) error {
	os.Unsetenv(killEnv)
	uid, err := strconv.Atoi(raw)
	if err != nil || uid <= 0 {
		return fmt.Errorf("malformed %s", killEnv)
	}
	if err := syscall.Setgroups(nil); err != nil {
		return err
	}
	if err := syscall.Setgid(uid); err != nil {
		return err
	}
	if err := syscall.Setuid(uid); err != nil {
		return err
	}
	if err := syscall.Kill(-1, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	return nil
}

// NotDumpable makes the bot's own process unreadable to processes of its
// user: /proc/<pid>/environ and mem, and ptrace. The PR's Terraform in none
// mode runs as that user.
func NotDumpable() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
