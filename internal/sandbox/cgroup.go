package sandbox

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// cgroupBase makes the cgroup (v2) directory under which each run gets a
// cgroup of its own: stagebot-runs in the bot's own cgroup. It fails where
// there is no cgroup v2 hierarchy the bot may write (a restricted pod), or
// no cgroup.kill (Linux before 5.14).
func cgroupBase() (string, error) {
	mount, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	own, err := ownCgroup()
	if err != nil {
		return "", err
	}
	base := filepath.Join(mount, own, "stagebot-runs")
	if err := os.Mkdir(base, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return "", fmt.Errorf("make %s: %w", base, err)
	}
	if _, err := os.Stat(filepath.Join(base, "cgroup.kill")); err != nil {
		return "", fmt.Errorf("%s has no cgroup.kill (Linux 5.14 or later has it)", base)
	}
	// Runs get limits where the hierarchy has the controllers: enabled
	// one by one, as either may be missing.
	for _, c := range []string{"+pids", "+memory"} {
		os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte(c), 0)
	}
	return base, nil
}

// limitsMissing says which controllers runs' cgroups lack under base.
func limitsMissing(base string) []string {
	b, _ := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
	var missing []string
	for _, c := range []string{"pids", "memory"} {
		if !slices.Contains(strings.Fields(string(b)), c) {
			missing = append(missing, c)
		}
	}
	return missing
}

// limit writes the run's limits into its cgroup, where the controllers
// are.
func limit(dir string, pids int, memory int64) error {
	for file, v := range map[string]int64{"pids.max": int64(pids), "memory.max": memory, "memory.swap.max": 0} {
		p := filepath.Join(dir, file)
		if _, err := os.Stat(p); err != nil || v < 0 {
			continue
		}
		if err := os.WriteFile(p, []byte(strconv.FormatInt(v, 10)), 0); err != nil {
			return fmt.Errorf("limit the run's cgroup: %s: %w", file, err)
		}
	}
	return nil
}

// cgroup2Mount is where the cgroup v2 hierarchy is mounted:
// /sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid host.
func cgroup2Mount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options... - fstype ...
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, after := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(after) >= 1 && after[0] == "cgroup2" {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup v2 hierarchy is mounted")
}

// ownCgroup is the bot's cgroup v2 path ("0::/path").
func ownCgroup() (string, error) {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if path, ok := strings.CutPrefix(line, "0::"); ok {
			return path, nil
		}
	}
	return "", errors.New("the bot is in no cgroup v2")
}

// cgroupKill kills every process in dir, forks included: the kernel stops
// the group from forking while it kills.
func cgroupKill(dir string) error {
	return os.WriteFile(filepath.Join(dir, "cgroup.kill"), []byte("1"), 0)
}

// cgroupPopulated reports whether any process is left in dir.
func cgroupPopulated(dir string) (bool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.events"))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v != "0", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no populated line", dir)
}
