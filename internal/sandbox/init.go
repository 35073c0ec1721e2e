package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// runInit is the run's PID 1. It keeps the run's mounts to itself, gives
// the run a /proc of its own namespace, brings up the loopback of its
// network namespace with the relays to the egress proxy, starts the
// program as the slot's user and reaps every process of the run until the
// program ends. Its own end ends the namespace: the kernel kills whatever
// the run left, however fast it forks.
func runInit() int {
	sp, err := takeSpec(initEnv)
	if err != nil {
		return exit(err)
	}
	// Fork the program from this thread, which holds no_new_privs.
	runtime.LockOSThread()
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return exit(fmt.Errorf("make the run's mounts private: %w", err))
	}
	// Best effort: where the host's /proc is partly hidden (a container's
	// masked paths), a new one is refused; the uid keeps other runs'
	// processes unreadable then.
	unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "")
	if err := privateDirs(); err != nil {
		return exit(err)
	}
	if sp.Net {
		if err := loopbackUp(); err != nil {
			return exit(err)
		}
		if err := relays(sp); err != nil {
			return exit(err)
		}
	}
	if sp.Bin == "" {
		return 0
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return exit(fmt.Errorf("prctl(NO_NEW_PRIVS): %w", err))
	}
	if err := denyUserNamespaces(); err != nil {
		return exit(err)
	}
	syscall.Umask(0o007)
	cmd := exec.Command(sp.Bin, os.Args[1:]...)
	cmd.Args[0] = sp.Bin
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: &syscall.Credential{Uid: uint32(sp.UID), Gid: uint32(sp.GID), Groups: []uint32{uint32(sp.Shared)}},
		Pdeathsig:  syscall.SIGKILL,
	}
	if err := startForwarding(cmd, stopSignals...); err != nil {
		return exit(err)
	}
	return reapUntil(cmd.Process.Pid)
}

// privateDirs gives the run empty directories of its own where programs
// leave files and sockets for others: /run (a database's, a container
// engine's socket), /dev/shm and /var/tmp. Nothing the run writes there
// outlives it; nothing the host keeps there is in its reach.
func privateDirs() error {
	for _, d := range []struct {
		path string
		mode string
	}{{"/run", "0755"}, {"/dev/shm", "1777"}, {"/var/tmp", "1777"}} {
		if st, err := os.Lstat(d.path); err != nil || !st.IsDir() {
			continue // absent, or a link to one of the others
		}
		if err := unix.Mount("tmpfs", d.path, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode="+d.mode+",size=64m"); err != nil {
			return fmt.Errorf("a private %s for the run: %w", d.path, err)
		}
	}
	return nil
}

// reapUntil reaps every child (the program, and the orphans of the run,
// which are PID 1's) until pid ends, and returns pid's exit status.
func reapUntil(pid int) int {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return exit(fmt.Errorf("wait: %w", err))
		}
		if got != pid {
			continue
		}
		if ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ws.ExitStatus()
	}
}

// loopbackUp brings up lo, the only interface of the run's network
// namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// relays listen on the run's loopback: at ProxyPort for the egress proxy
// (HTTPS_PROXY), and at each forwarded port for the same port of the
// bot's loopback, tunnelled through the proxy, which checks it too.
func relays(sp spec) error {
	if sp.Proxy == "" {
		return nil
	}
	listen := func(port int, target string) error {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("egress relay: %w", err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go relay(c, sp.Proxy, target)
			}
		}()
		return nil
	}
	if err := listen(sp.ProxyPort, ""); err != nil {
		return err
	}
	for _, port := range sp.Forward {
		if err := listen(port, "127.0.0.1:"+strconv.Itoa(port)); err != nil {
			return err
		}
	}
	return nil
}

// relay joins a connection of the run to the proxy's socket; for a
// forwarded port it first asks the proxy to CONNECT to target.
func relay(c net.Conn, socket, target string) {
	defer c.Close()
	up, err := net.Dial("unix", socket)
	if err != nil {
		return
	}
	defer up.Close()
	var from io.Reader = up
	if target != "" {
		fmt.Fprintf(up, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(up)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil || resp.StatusCode != http.StatusOK {
			return
		}
		from = br
	}
	go func() {
		io.Copy(up, c)
		up.(*net.UnixConn).CloseWrite()
	}()
	// Once the far end is done, so is the run's side.
	io.Copy(c, from)
}
