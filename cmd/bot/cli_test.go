package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every command answers -h and --help with its usage on stdout and exit
// status 0, as CLIs do; a flag it does not know is a usage error (2), with
// the usage on stderr; nothing starts either way.
func TestHelpAndUnknownFlags(t *testing.T) {
	for _, command := range []string{"serve", "plan", "setup"} {
		for _, help := range []string{"-h", "--help"} {
			cmd := exec.Command(botBin, command, help)
			var stdout, stderr strings.Builder
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Errorf("bot %s %s: %v (stderr %q)", command, help, err, stderr.String())
			}
			if !strings.HasPrefix(stdout.String(), "Usage of bot "+command+":\n") || stderr.Len() != 0 {
				t.Errorf("bot %s %s printed %q on stdout and %q on stderr", command, help, stdout.String(), stderr.String())
			}
		}
		cmd := exec.Command(botBin, command, "--no-such-flag")
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("bot %s --no-such-flag: %v, want exit status 2", command, err)
		}
		if !strings.Contains(stderr.String(), "flag provided but not defined: -no-such-flag") || !strings.Contains(stderr.String(), "Usage of bot "+command) || stdout.Len() != 0 {
			t.Errorf("bot %s --no-such-flag: stdout %q, stderr %q", command, stdout.String(), stderr.String())
		}
	}
	// The top level too.
	if out, err := exec.Command(botBin, "--help").Output(); err != nil || !strings.Contains(string(out), "Usage:") {
		t.Errorf("bot --help: %v %q", err, out)
	}
}
