package notify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	slackURL  = "https://hooks.slack.com/services/T0001/B0001/sl4ckt0k3nsl4ckt0k3n"
	hookURL   = "https://audit.example.com/stagebot/h00kp4th"
	hookToken = "s3cr3t-hm4c-k3y"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestParse(t *testing.T) {
	b := []byte(`
targets:
  - name: ops-slack
    type: slack
    url: ` + slackURL + `
    events: [apply_succeeded, apply_failed]
  - name: audit
    type: webhook
    url: ` + hookURL + `
    secret_env: AUDIT_SECRET
    repos: ["org/*", "other/platform"]
`)
	got, err := Parse(b, env(map[string]string{"AUDIT_SECRET": hookToken}))
	if err != nil {
		t.Fatal(err)
	}
	want := &Config{Targets: []Target{
		{Name: "ops-slack", Type: Slack, URL: slackURL, Events: []Kind{ApplySucceeded, ApplyFailed}},
		{Name: "audit", Type: Webhook, URL: hookURL, Secret: hookToken, Repos: []string{"org/*", "other/platform"}},
	}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("config (-want +got):\n%s", d)
	}
	// The URLs, a Slack URL's path and the secret are what no text may show.
	for _, s := range []string{slackURL, "/services/T0001/B0001/sl4ckt0k3nsl4ckt0k3n", hookURL, hookToken} {
		if !strings.Contains(strings.Join(got.Secrets(), "\n"), s) {
			t.Errorf("Secrets() lacks %q", s)
		}
	}
}

// A file that is wrong is refused at start with an error that names the
// target and what is wrong with it, and never shows a URL or secret.
func TestParseErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		yaml string
		want []string
	}{
		"unknown key":            {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    channel: '#ops'\n", []string{"line 5", "channel"}},
		"unknown top-level key":  {"target:\n  - name: a\n", []string{"line 1", "target"}},
		"bad type":               {"targets:\n  - name: a\n    type: teams\n    url: " + slackURL + "\n", []string{`target "a"`, "type must be slack or webhook"}},
		"bad scheme":             {"targets:\n  - name: a\n    type: slack\n    url: ftp://hooks.slack.com/services/T0001/B0001/sl4ckt0k3nsl4ckt0k3n\n", []string{`target "a"`, "http(s)"}},
		"no host":                {"targets:\n  - name: a\n    type: slack\n    url: https:///services/sl4ckt0k3nsl4ckt0k3n\n", []string{`target "a"`, "http(s)"}},
		"user in url":            {"targets:\n  - name: a\n    type: webhook\n    secret: " + hookToken + "\n    url: https://me:" + hookToken + "@audit.example.com/x\n", []string{`target "a"`, "user or password"}},
		"missing url":            {"targets:\n  - name: a\n    type: slack\n", []string{`target "a"`, "url is missing"}},
		"unknown event":          {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    events: [apply_done]\n", []string{`target "a"`, `unknown event "apply_done"`, "apply_succeeded"}},
		"webhook without secret": {"targets:\n  - name: audit\n    type: webhook\n    url: " + hookURL + "\n", []string{`target "audit"`, "needs a secret"}},
		"secret_env unset":       {"targets:\n  - name: audit\n    type: webhook\n    url: " + hookURL + "\n    secret_env: NOPE\n", []string{`target "audit"`, "NOPE is not set"}},
		"secret and secret_env":  {"targets:\n  - name: audit\n    type: webhook\n    url: " + hookURL + "\n    secret: " + hookToken + "\n    secret_env: AUDIT_SECRET\n", []string{`target "audit"`, "give one"}},
		"slack with secret":      {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    secret: " + hookToken + "\n", []string{`target "a"`, "takes no secret"}},
		"bad glob":               {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    repos: ['org/[x']\n", []string{`target "a"`, "not an owner/name glob"}},
		"glob without owner":     {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    repos: ['platform']\n", []string{`target "a"`, "not an owner/name glob"}},
		"no name":                {"targets:\n  - type: slack\n    url: " + slackURL + "\n", []string{"target 1", "name must be"}},
		"twice":                  {"targets:\n  - {name: a, type: slack, url: '" + slackURL + "'}\n  - {name: a, type: webhook, url: '" + hookURL + "', secret: " + hookToken + "}\n", []string{`target "a": named twice`}},
		"no targets":             {"targets: []\n", []string{"no targets"}},
		"empty":                  {"", []string{"no targets"}},
		// yaml quotes a value in the wrong place: it may be the URL.
		"url where a list goes":    {"targets:\n  - name: a\n    type: slack\n    url: " + slackURL + "\n    events: " + slackURL + "\n", []string{"line 5"}},
		"secret where a list goes": {"targets:\n  - name: a\n    type: webhook\n    url: " + hookURL + "\n    repos: " + hookToken + "\n", []string{"line 5"}},
		"not yaml":                 {"targets:\n  - name: a\n   url: [" + slackURL + "\n", []string{"YAML"}},
		"two documents":            {"targets:\n  - {name: a, type: slack, url: '" + slackURL + "'}\n---\ntargets: []\n", []string{"more than one"}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), env(map[string]string{"AUDIT_SECRET": "another-s3cr3t"}))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			for _, secret := range []string{"sl4ckt0k3n", "h00kp4th", hookToken, "another-s3cr3t", "hooks.slack.com", "audit.example.com"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows %q", err, secret)
				}
			}
		})
	}
}

// The file holds credentials: like the env file, it is refused when its
// group or others may read it.
func TestLoadRefusesReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notifications.yaml")
	if err := os.WriteFile(path, []byte("targets:\n  - {name: a, type: slack, url: '"+slackURL+"'}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, env(nil))
	if err == nil || !strings.Contains(err.Error(), "chmod 600") || strings.Contains(err.Error(), "sl4ckt0k3n") {
		t.Fatalf("mode 0644: err = %v", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(path, env(nil))
	if err != nil || len(cfg.Targets) != 1 {
		t.Fatalf("mode 0600: %v, %+v", err, cfg)
	}
	if _, err := Load(filepath.Join(t.TempDir(), "none.yaml"), env(nil)); err == nil {
		t.Error("a missing file was accepted")
	}
}

func TestWants(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		target Target
		ev     Event
		want   bool
	}{
		"everything":           {Target{}, Event{Kind: DriftFound, Repo: "org/a"}, true},
		"kind listed":          {Target{Events: []Kind{ApplyFailed, DriftFound}}, Event{Kind: DriftFound, Repo: "org/a"}, true},
		"kind not listed":      {Target{Events: []Kind{ApplyFailed}}, Event{Kind: ApplySucceeded, Repo: "org/a"}, false},
		"repo glob":            {Target{Repos: []string{"org/*"}}, Event{Kind: DriftFound, Repo: "org/platform"}, true},
		"repo glob, any case":  {Target{Repos: []string{"Org/*"}}, Event{Kind: DriftFound, Repo: "ORG/Platform"}, true},
		"repo of another org":  {Target{Repos: []string{"org/*"}}, Event{Kind: DriftFound, Repo: "orgx/platform"}, false},
		"second glob":          {Target{Repos: []string{"org/*", "other/{a,b}"}}, Event{Kind: DriftFound, Repo: "other/b"}, true},
		"both must hold":       {Target{Events: []Kind{ApplyFailed}, Repos: []string{"org/*"}}, Event{Kind: ApplySucceeded, Repo: "org/a"}, false},
		"no repo, repo filter": {Target{Repos: []string{"org/*"}}, Event{Kind: DriftFound}, false},
	} {
		t.Run(name, func(t *testing.T) {
			if got := tc.target.Wants(tc.ev); got != tc.want {
				t.Errorf("Wants = %v, want %v", got, tc.want)
			}
		})
	}
}
