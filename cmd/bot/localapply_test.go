package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The quickstart has no dead end: bot apply applies its stages in order,
// each reading the outputs of the one before; the state is kept outside
// the checkouts, so the next commit's plan of a tenant-only change reads
// the platform's outputs (no "Unable to find remote state") and sees the
// infrastructure as applied.
func TestBotApplyQuickstart(t *testing.T) {
	dir, data := quickstart(t), t.TempDir()
	out, stderr, code := botLocal(t, data, "", "apply", "--repo", dir)
	if code != 1 || !strings.Contains(stderr, "no answer on stdin (pass -auto-approve") || fileExists(filepath.Join(data, "state", "infrastructure.tfstate")) {
		t.Fatalf("without an answer: exit %d, stderr %s", code, stderr)
	}
	out, stderr, code = botLocal(t, data, "yes\nyes\nno\n", "apply", "--repo", dir)
	if code != 1 || !strings.Contains(stderr, "tenant not applied: cancelled; 2 stage(s) applied before it") {
		t.Fatalf("yes, yes, no: exit %d, stderr %s\n%s", code, stderr, out)
	}
	for _, want := range []string{"✅ stagebot applied `infrastructure`", "✅ stagebot applied `platform`", "authentik on demo-cluster", "stagebot plan: `tenant`"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "✅ stagebot applied `tenant`") || strings.Contains(out, "demo-password-not-real") {
		t.Errorf("the tenant was applied though refused, or a sensitive output is shown:\n%s", out)
	}

	f := filepath.Join(dir, "terraform/tenant/main.tf")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, []byte(strings.Replace(string(b), `["acme", "globex"]`, `["acme", "globex", "initech"]`, 1)), 0o644)
	commitAll(t, dir, "a third tenant")
	out, stderr, code = botLocal(t, data, "", "plan", "--repo", dir, "--base", "HEAD~1")
	if code != 0 || !strings.Contains(out, "Plan: 3 to add") || !strings.Contains(out, "behind https://auth.example.test") {
		t.Fatalf("tenant-only change after the platform's apply: exit %d, stderr %s\n%s", code, stderr, out)
	}
	out, stderr, code = botLocal(t, data, "", "apply", "--repo", dir, "-auto-approve", "tenant")
	if code != 0 || !strings.Contains(out, "✅ stagebot applied `tenant`") || strings.Contains(out, "`infrastructure`") {
		t.Fatalf("bot apply tenant: exit %d, stderr %s\n%s", code, stderr, out)
	}
	out, stderr, code = botLocal(t, data, "", "apply", "--repo", dir)
	if code != 0 || strings.Count(stderr, ": no changes") != 3 || !strings.Contains(stderr, "0 stage(s) applied") {
		t.Errorf("after every apply, every stage should have nothing to do (exit %d): %s\n%s", code, stderr, out)
	}
	_, stderr, code = botLocal(t, data, "", "apply", "--repo", dir, "tenants")
	if code != 2 || !strings.Contains(stderr, `no stage "tenants"`) {
		t.Errorf("a misspelt stage: exit %d, stderr %s", code, stderr)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
