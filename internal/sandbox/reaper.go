package sandbox

import (
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// initChildEnv marks the bot its own init started.
const initChildEnv = "STAGEBOT_INIT_CHILD"

// MaybeInit makes the bot the init of its container when it runs as PID 1
// (as the image's entrypoint does): it starts itself again as its only
// child, passes on the signals a container gets, reaps every orphan that
// is handed to it (what a run left that the sandbox did not end), and
// exits as the child does. Otherwise it returns at once. Call it first in
// main, after MaybeLaunch.
func MaybeInit() {
	if os.Getpid() != 1 || os.Getenv(initChildEnv) != "" {
		return
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Args[0] = os.Args[0]
	cmd.Env = append(os.Environ(), initChildEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := startForwarding(cmd, append(stopSignals, syscall.SIGUSR1, syscall.SIGUSR2)...); err != nil {
		os.Exit(exit(err))
	}
	os.Exit(reapUntil(cmd.Process.Pid))
}

// stopSignals are what a run's Terraform is told to stop with: each
// process between the bot and Terraform passes them on.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT}

// startForwarding starts cmd and passes it every signal of sigs this
// process gets.
func startForwarding(cmd *exec.Cmd, sigs ...os.Signal) error {
	ch := make(chan os.Signal, len(sigs))
	signal.Notify(ch, sigs...)
	if err := cmd.Start(); err != nil {
		signal.Stop(ch)
		return err
	}
	go func() {
		for sig := range ch {
			cmd.Process.Signal(sig)
		}
	}()
	return nil
}
