package sandbox

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// launchEnv carries what the launcher needs: "uid:gid:sharedgid:binary".
// Terraform never sees it.
const launchEnv = "STAGEBOT_SANDBOX_LAUNCH"

// Command is what runs Terraform for the lease: the binary to start and the
// variables to add to its environment. Not isolated: bin itself. Isolated:
// the bot's own binary as the launcher, which becomes bin as the slot's
// user (see Launch).
func (l *Lease) Command(bin string) (string, map[string]string, error) {
	if !l.s.Isolated() {
		return bin, nil, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", nil, fmt.Errorf("sandbox launcher: %w", err)
	}
	return self, map[string]string{launchEnv: fmt.Sprintf("%d:%d:%d:%s", l.UID, l.GID, l.s.gid, bin)}, nil
}

// MaybeLaunch turns this process into the sandboxed program when it was
// started as the launcher; otherwise it returns at once. Call it first in
// main, before anything else runs.
func MaybeLaunch() {
	spec, ok := os.LookupEnv(launchEnv)
	if !ok {
		return
	}
	if err := launch(spec); err != nil {
		fmt.Fprintf(os.Stderr, "stagebot sandbox: %v\n", err)
		os.Exit(126)
	}
}

// launch drops to the slot's user and groups, with no way to regain
// privileges, and executes the program with the arguments it was given.
func launch(spec string) error {
	parts := strings.SplitN(spec, ":", 4)
	if len(parts) != 4 {
		return fmt.Errorf("malformed %s", launchEnv)
	}
	var ids [3]int
	for i := range ids {
		n, err := strconv.Atoi(parts[i])
		if err != nil || n <= 0 {
			return fmt.Errorf("malformed %s", launchEnv)
		}
		ids[i] = n
	}
	uid, gid, shared, bin := ids[0], ids[1], ids[2], parts[3]
	os.Unsetenv(launchEnv)
	runtime.LockOSThread()
	if err := syscall.Setgroups([]int{shared}); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid {
		return fmt.Errorf("still uid %d after setuid(%d)", os.Geteuid(), uid)
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
	// What Terraform creates is the slot's and its group's: the shared
	// plugin cache (a setgid directory of the shared group) stays usable by
	// every slot; a checkout is no other slot's group.
	syscall.Umask(0o007)
	return syscall.Exec(bin, append([]string{bin}, os.Args[1:]...), os.Environ())
}

// NotDumpable makes the bot's own process unreadable to processes of its
// user: /proc/<pid>/environ and mem, and ptrace. The PR's Terraform in none
// mode runs as that user.
func NotDumpable() error {
	return unix.Prctl(unix.PR_SET_DUMPABLE, 0, 0, 0, 0)
}
