package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	goversion "github.com/hashicorp/go-version"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/runner"
)

// testTerraform is a Terraform binary of the tests and its version.
type testTerraform struct {
	bin     string
	version *goversion.Version
}

// minor is "X.Y" of its version.
func (tf testTerraform) minor() string {
	s := tf.version.Segments()
	return fmt.Sprintf("%d.%d", s[0], s[1])
}

// terraformVersions are two Terraforms of different minor versions, oldest
// first, from STAGEBOT_TEST_TERRAFORM_VERSIONS (scripts/test sets it).
// Without them the test is skipped, and fails on CI.
func terraformVersions(t *testing.T) (older, newer testTerraform) {
	t.Helper()
	var found []testTerraform
	for _, bin := range filepath.SplitList(os.Getenv("STAGEBOT_TEST_TERRAFORM_VERSIONS")) {
		if bin == "" {
			continue
		}
		v, err := runner.TerraformVersion(context.Background(), bin)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, testTerraform{bin: bin, version: v})
	}
	slices.SortFunc(found, func(a, b testTerraform) int { return a.version.Compare(b.version) })
	if len(found) < 2 || found[0].minor() == found[len(found)-1].minor() {
		msg := fmt.Sprintf("STAGEBOT_TEST_TERRAFORM_VERSIONS=%q does not name Terraforms of two minor versions: run the tests with scripts/test, which builds 1.13.3 besides the Terraform on PATH", os.Getenv("STAGEBOT_TEST_TERRAFORM_VERSIONS"))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return found[0], found[len(found)-1]
}

// Two stages of one PR plan and apply with the Terraform each asks for,
// from the bot's versions dir: legacy by its terraform_version in
// stagebot.yaml, current by its required_version. Each comment says which;
// bot plan does the same with -terraform-versions-dir.
func TestStagesRunTheirTerraformVersion(t *testing.T) {
	older, newer := terraformVersions(t)
	dir := t.TempDir() // the versions dir: older as a file, newer in a directory
	if err := os.Symlink(older.bin, filepath.Join(dir, "terraform_"+older.version.String())); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, newer.version.String()), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(newer.bin, filepath.Join(dir, newer.version.String(), "terraform")); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	files := map[string]string{
		"stagebot.yaml": "version: 1\nstages:\n" +
			"  - name: legacy\n    dir: terraform/legacy\n    terraform_version: \"~> " + older.minor() + ".0\"\n" +
			"  - name: current\n    dir: terraform/current\n",
		"terraform/legacy/main.tf":  fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, "legacy.tfstate")),
		"terraform/current/main.tf": fmt.Sprintf("terraform {\n  required_version = \">= %s\"\n  backend \"local\" {\n    path = %q\n  }\n}\n", newer.minor(), filepath.Join(state, "current.tfstate")),
	}
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	base := gh.Commit(repo, "main", "", files, "two stages")
	for user, role := range map[string]string{"alice": "write", "carol": "maintain"} {
		gh.SetPermission(repo, user, role)
	}
	// The default is the newer: legacy gets the older only through its
	// terraform_version.
	env := append(autoplanEnv(gh, t.TempDir()), "STAGEBOT_TERRAFORM_BIN="+newer.bin, "STAGEBOT_TERRAFORM_VERSIONS_DIR="+dir)
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	change := map[string]string{
		"terraform/legacy/x.tf":  "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
		"terraform/current/x.tf": "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n",
	}
	f.pr(9, "main", change, base, 2)
	want := map[string]string{"legacy": older.version.String(), "current": newer.version.String()}
	for stage, v := range want {
		if body := f.stageComment(9, stage, "+1 to add"); !strings.Contains(body, "· Terraform "+v) {
			t.Errorf("the plan comment of %s does not name Terraform %s:\n%s", stage, v, body)
		}
	}
	f.say(9, "alice", "/apply")
	for stage, v := range want {
		if body := f.stageComment(9, stage, "✅ stagebot applied `"+stage+"`"); !strings.Contains(body, "· Terraform "+v) {
			t.Errorf("the apply comment of %s does not name Terraform %s:\n%s", stage, v, body)
		}
		if got := stateEngine(t, filepath.Join(state, stage+".tfstate")); got != v {
			t.Errorf("the %s state was written by Terraform %s, want %s", stage, got, v)
		}
	}

	// bot plan, on a local checkout of the same files; its default is
	// the older.
	local := t.TempDir()
	writeFiles(t, local, files)
	writeFiles(t, local, change)
	git(t, local, "init", "-q", "-b", "main")
	commitAll(t, local, "two stages")
	out, stderr, code := botPlan(t, "--repo", local, "--terraform-versions-dir", dir)
	for stage, v := range want {
		if !strings.Contains(out, "stagebot plan: `"+stage+"` at") || !strings.Contains(out, "· Terraform "+v) {
			t.Errorf("bot plan does not plan %s with Terraform %s: exit %d\n%s\n%s", stage, v, code, stderr, out)
		}
	}
}
