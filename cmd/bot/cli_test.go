package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// Every command answers -h and --help with its usage on stdout and exit
// status 0, as CLIs do; a flag it does not know is a usage error (2), with
// the usage on stderr; nothing starts either way.
func TestHelpAndUnknownFlags(t *testing.T) {
	for _, command := range []string{"serve", "plan", "setup", "version"} {
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

// A misspelt setting is not silently ignored: the bot starts and says which
// variable it ignored and which it likely meant.
func TestServeNamesUnknownSettings(t *testing.T) {
	gh := githubtest.New(t)
	b := startBot(t, append(botEnv(gh, t.TempDir()), "STAGEBOT_WORKRES=2"))
	if !strings.Contains(b.Logs(), `"msg":"unknown setting in the environment: ignored","name":"STAGEBOT_WORKRES","did_you_mean":"STAGEBOT_WORKERS"`) {
		t.Errorf("no warning of STAGEBOT_WORKRES:\n%s", b.Logs())
	}
}

// bot version -json is what scripts read.
func TestVersionJSON(t *testing.T) {
	out, err := exec.Command(botBin, "version", "-json").Output()
	var v map[string]string
	if err != nil || json.Unmarshal(out, &v) != nil || v["version"] == "" || v["commit"] == "" || !strings.HasPrefix(v["go"], "go") {
		t.Errorf("bot version -json: %v %q", err, out)
	}
}
