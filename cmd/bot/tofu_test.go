package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/runner"
)

// tofuBin is the OpenTofu the tests run (scripts/test builds it).
func tofuBin(t *testing.T) string {
	t.Helper()
	b := os.Getenv("STAGEBOT_TEST_TOFU_BIN")
	if b == "" {
		t.Fatal("STAGEBOT_TEST_TOFU_BIN is not set: run the tests with scripts/test, which builds OpenTofu (scripts/build-tofu)")
	}
	return b
}

// stateEngine is the version that wrote a state file.
func stateEngine(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.Version
}

// The quickstart's three stages with terraform_bin: tofu are planned
// (plan JSON rendered into the comments), applied from their saved plans
// and read downstream with OpenTofu, and every comment says so; bot plan
// does the same on a local checkout.
func TestOpenTofuPlansAndApplies(t *testing.T) {
	tofu := tofuBin(t)
	v, err := runner.TerraformVersion(context.Background(), tofu)
	if err != nil {
		t.Fatal(err)
	}
	engine := "· OpenTofu " + v.String()
	f, state := mergeFlow(t, "STAGEBOT_TOFU_BIN="+tofu)
	cfg := strings.Replace(quickstartFiles(t)["stagebot.yaml"], "version: 1\n", "version: 1\nterraform_bin: tofu\n", 1)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": cfg}, "OpenTofu")

	f.pr(9, "main", touchAll, f.base, 3)
	infra := f.stageComment(9, "infrastructure", "+3 to add")
	if !strings.Contains(infra, engine) || !strings.Contains(infra, "OpenTofu will perform the following actions") {
		t.Errorf("the plan comment does not say OpenTofu planned:\n%s", infra)
	}
	f.say(9, "alice", "/apply")
	if body := f.stageComment(9, "infrastructure", "✅ stagebot applied `infrastructure`"); !strings.Contains(body, engine) {
		t.Errorf("the apply comment does not say OpenTofu applied:\n%s", body)
	}
	platform := f.stageComment(9, "platform", "to add")
	if !strings.Contains(platform, engine) {
		t.Errorf("platform was not planned with OpenTofu:\n%s", platform)
	}
	f.say(9, "alice", "/apply")
	f.stageComment(9, "platform", "✅ stagebot applied `platform`")
	f.stageComment(9, "tenant", "+3 to add")
	f.say(9, "alice", "/apply tenant")
	f.stageComment(9, "tenant", "✅ stagebot applied `tenant`")
	for _, s := range []string{"infrastructure", "platform", "tenant"} {
		if got := stateEngine(t, filepath.Join(state, s+".tfstate")); got != v.String() {
			t.Errorf("the %s state was written by %q, not OpenTofu %s", s, got, v)
		}
	}
	for _, c := range f.gh.BotComments(f.repo, 9) {
		if strings.Contains(c.Body, "Terraform 1.") {
			t.Errorf("a comment names Terraform:\n%s", c.Body)
		}
	}

	// bot plan, on a local checkout of the same configuration.
	dir := quickstart(t)
	os.WriteFile(filepath.Join(dir, "stagebot.yaml"), []byte(strings.Replace(mustRead(t, filepath.Join(dir, "stagebot.yaml")), "version: 1\n", "version: 1\nterraform_bin: tofu\n", 1)), 0o644)
	commitAll(t, dir, "tofu")
	out, stderr, code := botPlan(t, "--repo", dir, "--tofu-bin", tofu)
	if code != 0 || !strings.Contains(out, engine) || !strings.Contains(out, "Plan: 2 to add, 0 to change, 0 to destroy.") {
		t.Errorf("bot plan with OpenTofu: exit %d\n%s\n%s", code, stderr, out)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
