package sandbox

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// emptyWait bounds how long a slot's processes may take to die.
const emptyWait = 5 * time.Second

// empty kills whatever is left of a slot, its uid's processes and its
// cgroup's, and proves it: it returns nil only once neither has a live
// process. A zombie counts as gone: it holds nothing and runs nothing.
func (s *Sandbox) empty(uid int, cgroup string) error {
	deadline := time.Now().Add(emptyWait)
	if !s.features.PID {
		// Without a PID namespace nothing ends the run's processes when
		// it ends, and a walk of /proc misses one whose pid keeps
		// changing: kill(-1) as the uid, whatever the walk would say.
		s.killUID(uid)
	}
	for {
		pids, err := processesOf(uid)
		if err != nil {
			return err
		}
		populated := false
		if cgroup != "" {
			if populated, err = cgroupPopulated(cgroup); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
		if len(pids) == 0 && !populated {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("uid %d still has processes %v after %s of SIGKILL", uid, pids, emptyWait)
		}
		if populated {
			cgroupKill(cgroup)
		}
		if len(pids) > 0 {
			s.killUID(uid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sharedTmp are the directories every user may write, where a run's files
// would wait for the next run of its uid.
var sharedTmp = []string{"/tmp", "/var/tmp", "/dev/shm"}

// removeFilesOf removes what uid left at the top of the shared temporary
// directories (a run in namespaces has its own /var/tmp and /dev/shm, not
// its own /tmp). Call it once the uid runs nothing.
func removeFilesOf(uid int) {
	for _, dir := range sharedTmp {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if st, err := os.Lstat(p); err == nil {
				if sys, ok := st.Sys().(*syscall.Stat_t); ok && int(sys.Uid) == uid {
					os.RemoveAll(p)
				}
			}
		}
	}
}

// killUID runs the launcher as the uid's own killer (see killUID).
func (s *Sandbox) killUID(uid int) error {
	cmd := exec.Command(s.launcher)
	cmd.Env = []string{killEnv + "=" + strconv.Itoa(uid)}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kill the processes of uid %d: %v: %s", uid, err, out)
	}
	return nil
}

// processesOf lists the live pids whose real, effective or saved uid is
// uid.
func processesOf(uid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if ids, live, ok := statusOf(pid); ok && (live || liveThread(pid)) && (ids[0] == uid || ids[1] == uid || ids[2] == uid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// liveThread reports whether a thread of pid still runs: a process whose
// main thread exited on its own (exit, not exit_group) is a zombie in its
// status while its other threads go on.
func liveThread(pid int) bool {
	tasks, _ := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "stat"))
		if err != nil {
			continue
		}
		// tid (comm) state ...
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X' {
			return true
		}
	}
	return false
}

// statusOf reads a process's real, effective and saved uid, and whether it
// still runs (a zombie does not); a process gone reports false.
func statusOf(pid int) (ids [3]int, live, ok bool) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return ids, false, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, found := strings.CutPrefix(line, "State:"); found {
			state := strings.TrimSpace(rest)
			live = !strings.HasPrefix(state, "Z") && !strings.HasPrefix(state, "X")
		}
		if rest, found := strings.CutPrefix(line, "Uid:"); found {
			fields := strings.Fields(rest)
			if len(fields) < 3 {
				return ids, false, false
			}
			for i := range ids {
				if ids[i], err = strconv.Atoi(fields[i]); err != nil {
					return ids, false, false
				}
			}
			return ids, live, true
		}
	}
	return ids, false, false
}
