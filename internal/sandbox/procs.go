package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// killAll kills every process running as uid, which the run may have left
// behind (a provider, or something it started with setsid), so nothing of
// one run lives on into the next run of the slot.
func killAll(uid int) error {
	for round := 0; round < 50; round++ {
		pids, err := processesOf(uid)
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("processes of uid %d survive SIGKILL", uid)
}

// processesOf lists the pids whose real or effective uid is uid.
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
		if u, ok := uidsOf(pid); ok && (u[0] == uid || u[1] == uid) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// uidsOf reads a process's real and effective uid; a process gone (or a
// zombie already reaped) reports false.
func uidsOf(pid int) ([2]int, bool) {
	f, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return [2]int{}, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Uid:"); ok {
			fields := strings.Fields(rest)
			if len(fields) < 2 {
				return [2]int{}, false
			}
			r, err1 := strconv.Atoi(fields[0])
			e, err2 := strconv.Atoi(fields[1])
			return [2]int{r, e}, errors.Join(err1, err2) == nil
		}
	}
	return [2]int{}, false
}
