package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, args []string, env map[string]string) (Settings, error) {
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return Load(fs, args, func(k string) string { return env[k] })
}

func TestDefaultsEnvAndFlags(t *testing.T) {
	s, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != ":8080" || s.DataDir != "./data" || s.GitHubAPIURL != "https://api.github.com/" || s.TerraformBin != "terraform" || s.JobTimeout != 2*time.Hour {
		t.Errorf("defaults = %+v", s)
	}
	s, err = load(t, []string{"-listen", ":9000"}, map[string]string{"STAGEBOT_LISTEN": ":7000", "STAGEBOT_GITHUB_APP_ID": "42", "STAGEBOT_TERRAFORM_ENV": "IONOS_TOKEN, AWS_ACCESS_KEY_ID,"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Listen != ":9000" {
		t.Errorf("flag did not win over env: %q", s.Listen)
	}
	if s.GitHubAppID != 42 {
		t.Errorf("app id from env = %d", s.GitHubAppID)
	}
	if strings.Join(s.TerraformEnv, ",") != "IONOS_TOKEN,AWS_ACCESS_KEY_ID" {
		t.Errorf("terraform env = %q", s.TerraformEnv)
	}
}

func TestBadValuesNameTheSetting(t *testing.T) {
	for env, want := range map[string]string{
		"STAGEBOT_WORKERS":     "STAGEBOT_WORKERS",
		"STAGEBOT_JOB_TIMEOUT": "STAGEBOT_JOB_TIMEOUT",
		"STAGEBOT_LOG_LEVEL":   "STAGEBOT_LOG_LEVEL",
	} {
		_, err := load(t, nil, map[string]string{env: "nonsense"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s=nonsense: err = %v", env, err)
		}
	}
}

// The README's settings table is generated from the settings; UPDATE=1 go
// test rewrites it.
func TestReadmeSettingsTable(t *testing.T) {
	const start, end = "<!-- settings:start -->\n", "<!-- settings:end -->"
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	i, j := strings.Index(readme, start), strings.Index(readme, end)
	if i < 0 || j < i {
		t.Fatal("README.md lacks the settings markers")
	}
	want := readme[:i+len(start)] + Help() + readme[j:]
	if os.Getenv("UPDATE") != "" {
		if err := os.WriteFile("../../README.md", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if readme != want {
		t.Error("README.md's settings table is out of date: run UPDATE=1 go test ./internal/config")
	}
}

// The notifications file is read at start when set, refused when others
// may read it, and named by its setting when wrong.
func TestLoadNotifications(t *testing.T) {
	s, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg, err := s.LoadNotifications(func(string) (string, bool) { return "", false }); cfg != nil || err != nil {
		t.Fatalf("unset: %v, %v", cfg, err)
	}
	if s.NotificationsRetryWait != time.Second {
		t.Errorf("retry wait %s, want 1s", s.NotificationsRetryWait)
	}
	path := filepath.Join(t.TempDir(), "notifications.yaml")
	if err := os.WriteFile(path, []byte("targets:\n  - {name: audit, type: webhook, url: 'https://audit.example.com/x', secret_env: AUDIT}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err = load(t, nil, map[string]string{"STAGEBOT_NOTIFICATIONS_FILE": path, "STAGEBOT_NOTIFICATIONS_RETRY_WAIT": "50ms"})
	if err != nil {
		t.Fatal(err)
	}
	lookup := func(k string) (string, bool) { return "s3cr3t", k == "AUDIT" }
	if _, err := s.LoadNotifications(lookup); err == nil || !strings.Contains(err.Error(), "STAGEBOT_NOTIFICATIONS_FILE") || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("mode 0644: err = %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := s.LoadNotifications(lookup)
	if err != nil || len(cfg.Targets) != 1 || cfg.Targets[0].Secret != "s3cr3t" || s.NotificationsRetryWait != 50*time.Millisecond {
		t.Errorf("loaded %+v, %v, retry wait %s", cfg, err, s.NotificationsRetryWait)
	}
}
