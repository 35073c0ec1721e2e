package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// An env file's settings fill what the environment leaves empty; quotes
// are a shell's; a malformed line is named, its content never echoed.
func TestEnvFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stagebot.env")
	os.WriteFile(path, []byte("# comment\n\nexport STAGEBOT_WORKERS=3\nSTAGEBOT_GITHUB_WEBHOOK_SECRET='s3cret value'\nSTAGEBOT_LOG_LEVEL=\"debug\"\n"), 0o600)
	env := map[string]string{"STAGEBOT_WORKERS": "7"}
	lookup, rest, err := withEnvFile([]string{"-listen", ":1", "-env-file", path, "-workers=2"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(rest, " ") != "-listen :1 -workers=2" {
		t.Errorf("arguments left: %q", rest)
	}
	for k, want := range map[string]string{"STAGEBOT_WORKERS": "7", "STAGEBOT_GITHUB_WEBHOOK_SECRET": "s3cret value", "STAGEBOT_LOG_LEVEL": "debug", "STAGEBOT_OTHER": ""} {
		if got := lookup(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	os.WriteFile(path, []byte("STAGEBOT_A=1\nSUPERSECRET-LINE-WITHOUT-EQUALS\n"), 0o600)
	if _, _, err := withEnvFile([]string{"--env-file=" + path}, os.Getenv); err == nil || !strings.Contains(err.Error(), "line 2: want KEY=value") || strings.Contains(err.Error(), "SUPERSECRET") {
		t.Errorf("malformed file: %v", err)
	}
	// A file others may read is refused, as ssh refuses such a key.
	os.WriteFile(path, []byte("STAGEBOT_A=1\n"), 0o600)
	os.Chmod(path, 0o644)
	if _, _, err := withEnvFile([]string{"-env-file", path}, os.Getenv); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("a world-readable env file: %v", err)
	}
	if _, _, err := withEnvFile([]string{"-env-file"}, os.Getenv); err == nil {
		t.Error("-env-file without a file was accepted")
	}
}
