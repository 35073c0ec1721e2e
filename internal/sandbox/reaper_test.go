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
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// leaveOrphans is the bot's part in TestInitReapsOrphans: it leaves three
// processes whose parent exited, which the kernel hands to PID 1, and which
// end soon after.
func leaveOrphans() int {
	exec.Command("/bin/sh", "-c", "(sleep 0.1 &); (sleep 0.1 &); (sleep 0.1 &)").Run()
	time.Sleep(800 * time.Millisecond)
	fmt.Println("orphans-done")
	time.Sleep(time.Second)
	return 0
}

// TestInitReapsOrphans runs the binary as PID 1 of a PID namespace, as the
// image runs the bot, and has the bot leave orphans: once they ended, no
// zombie is left whose parent is PID 1.
func TestInitReapsOrphans(t *testing.T) {
	sandboxtest.Root(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STAGEBOT_TEST_ORPHANS=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "orphans-done" {
	}
	init := cmd.Process.Pid
	children, zombies := 0, 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if ppid, _ := strconv.Atoi(fields[1]); ppid == init {
			children++
			if fields[0] == "Z" {
				zombies++
			}
		}
	}
	if children == 0 {
		t.Fatal("the bot is not PID 1's child: the test sees nothing")
	}
	if zombies > 0 {
		t.Errorf("%d zombies outlive their process, children of PID 1", zombies)
	}
}
