package sandbox

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// denyUserNamespaces installs, on the calling thread (inherited by what it
// forks and executes), a seccomp filter that refuses new user namespaces:
// unshare and clone with CLONE_NEWUSER fail with EPERM, and clone3, whose
// flags a filter cannot read, fails with ENOSYS (C libraries then fall
// back to clone). In a user namespace of its own a run could mount FUSE
// and hang a thread of its own for good, where no SIGKILL ends it: its uid
// would be quarantined, and with one such run per uid, the whole pool.
// The thread must have no_new_privs set.
func denyUserNamespaces() error {
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		return fmt.Errorf("no seccomp filter for %s", runtime.GOARCH)
	}
	const (
		ld    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		allow = unix.SECCOMP_RET_ALLOW
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosy = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	// seccomp_data: nr at 0, arch at 4, args[i] at 16+8i (low word first
	// on both architectures).
	prog := []unix.SockFilter{
		{Code: ld, K: 4},
		{Code: jeq, K: arch, Jt: 1},
		{Code: ret, K: eperm}, // another ABI: nothing of it is allowed
		{Code: ld, K: 0},
		{Code: jeq, K: uint32(unix.SYS_CLONE3), Jf: 1},
		{Code: ret, K: enosy},
		{Code: jeq, K: uint32(unix.SYS_UNSHARE), Jt: 2},
		{Code: jeq, K: uint32(unix.SYS_CLONE), Jt: 1},
		{Code: ret, K: allow},
		{Code: ld, K: 16},
		{Code: jset, K: unix.CLONE_NEWUSER, Jf: 1},
		{Code: ret, K: eperm},
		{Code: ret, K: allow},
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.Prctl(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, uintptr(unsafe.Pointer(&fprog)), 0, 0); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	return nil
}
