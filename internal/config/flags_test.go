package config

import (
	"flag"
	"testing"
)

// A misspelt setting is named with the one it was likely meant to be; the
// bot's own internal variables and the tests' are not settings to warn of.
func TestUnknownEnv(t *testing.T) {
	got := UnknownEnv([]string{"STAGEBOT_WORKRES=2", "STAGEBOT_WORKERS=4", "STAGEBOT_SANDBOX_LAUNCH=1", "STAGEBOT_TEST_DATABASE_URL=x", "STAGEBOT_FROBNICATE_THE_WIDGETS=yes", "PATH=/bin", "STAGEBOT_GITHUB_APPID=1"})
	want := map[string]string{"STAGEBOT_WORKRES": "STAGEBOT_WORKERS", "STAGEBOT_FROBNICATE_THE_WIDGETS": "", "STAGEBOT_GITHUB_APPID": "STAGEBOT_GITHUB_APP_ID"}
	if len(got) != len(want) {
		t.Fatalf("unknown = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: suggested %q, want %q", k, got[k], v)
		}
	}
}

// Each flag shows the kind of value it takes, not "string" for all.
func TestFlagsShowTheirKind(t *testing.T) {
	fs := flag.NewFlagSet("bot serve", flag.ContinueOnError)
	if _, err := Load(fs, nil, func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"workers": "int", "job-timeout": "duration", "data-dir": "path", "github-api-url": "url", "repo-allowlist": "list", "github-app-id": "int"} {
		if got, _ := flag.UnquoteUsage(fs.Lookup(name)); got != want {
			t.Errorf("-%s shows %q, want %q", name, got, want)
		}
	}
}
