package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// quickstart copies examples/quickstart into a new git repository with one
// commit and returns its directory.
func quickstart(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if out, err := exec.Command("cp", "-r", "../../examples/quickstart/.", dir).CombinedOutput(); err != nil {
		t.Fatalf("copy example: %v %s", err, out)
	}
	git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "base")
	return dir
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@x", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
	return strings.TrimSpace(string(out))
}

// writeFiles writes files (path -> content) under dir.
func writeFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func commitAll(t *testing.T, dir, msg string) {
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", msg)
}

func botPlan(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return botLocal(t, t.TempDir(), "", append([]string{"plan"}, args...)...)
}

// botLocal runs a local command of the binary (bot plan, bot apply) with
// its data in dataDir and stdin as its input.
func botLocal(t *testing.T, dataDir, stdin string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(botBin, append([]string{args[0], "--data-dir", dataDir}, args[1:]...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STAGEBOT_TERRAFORM_BIN=" + terraformBin(), "SECRET_TOKEN=tok-123456789"}
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

func terraformBin() string {
	if b := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN"); b != "" {
		return b
	}
	return "terraform"
}

func TestBotPlanQuickstart(t *testing.T) {
	dir := quickstart(t)
	out, stderr, code := botPlan(t, "--repo", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	for _, want := range []string{
		"<!-- stagebot:stage=infrastructure -->", "+2 to add", "Plan: 2 to add, 0 to change, 0 to destroy.",
		"<!-- stagebot:stage=platform -->", "Waiting for `infrastructure` to be applied",
		"<!-- stagebot:stage=tenant -->",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "demo-password-not-real") {
		t.Error("a sensitive output value is in the comment")
	}
}

func TestBotPlanOnlyAffectedStages(t *testing.T) {
	dir := quickstart(t)
	os.WriteFile(filepath.Join(dir, "README.md"), []byte("docs\n"), 0o644)
	f := filepath.Join(dir, "terraform/infrastructure/main.tf")
	b, _ := os.ReadFile(f)
	os.WriteFile(f, []byte(strings.Replace(string(b), "default     = 3", "default     = 5", 1)), 0o644)
	commitAll(t, dir, "more nodes")
	out, stderr, code := botPlan(t, "--repo", dir, "--base", "HEAD~1", "--head", "HEAD")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if !strings.Contains(out, "stagebot:stage=infrastructure") || strings.Contains(out, "stagebot:stage=platform") || strings.Contains(out, "stagebot:stage=tenant") {
		t.Errorf("want only infrastructure planned:\n%s", out)
	}
	if !strings.Contains(out, "Affected by: `terraform/infrastructure/main.tf`") {
		t.Errorf("comment does not say which file affects the stage:\n%s", out)
	}

	os.WriteFile(filepath.Join(dir, "README.md"), []byte("more docs\n"), 0o644)
	commitAll(t, dir, "docs only")
	out, _, code = botPlan(t, "--repo", dir, "--base", "HEAD~1")
	if code != 0 || !strings.Contains(out, "No stage is affected") {
		t.Errorf("docs-only change: exit %d, output:\n%s", code, out)
	}
}

func TestBotPlanFailures(t *testing.T) {
	t.Run("broken HCL", func(t *testing.T) {
		dir := quickstart(t)
		os.WriteFile(filepath.Join(dir, "terraform/infrastructure/broken.tf"), []byte("resource \"terraform_data\" \"x\" {\n  input = \n}\n"), 0o644)
		commitAll(t, dir, "broken")
		out, stderr, code := botPlan(t, "--repo", dir, "--base", "HEAD~1", "--terraform-env", "SECRET_TOKEN")
		if code != 1 || !strings.Contains(out, "The plan failed") || !strings.Contains(out, "broken.tf") || !strings.Contains(stderr, "1 stage(s) failed") {
			t.Errorf("exit %d, stderr %s, output:\n%s", code, stderr, out)
		}
	})
	t.Run("credential value redacted", func(t *testing.T) {
		dir := quickstart(t)
		os.WriteFile(filepath.Join(dir, "terraform/infrastructure/leak.tf"), []byte("resource \"terraform_data\" \"leak\" {\n  input = \"tok-123456789\"\n}\n"), 0o644)
		commitAll(t, dir, "leak")
		out, stderr, code := botPlan(t, "--repo", dir, "--base", "HEAD~1", "--terraform-env", "SECRET_TOKEN")
		if code != 0 || strings.Contains(out, "tok-123456789") || !strings.Contains(out, `input  = "(redacted)"`) {
			t.Errorf("exit %d, stderr %s, output:\n%s", code, stderr, out)
		}
	})
	t.Run("broken stagebot.yaml", func(t *testing.T) {
		dir := quickstart(t)
		os.WriteFile(filepath.Join(dir, "stagebot.yaml"), []byte("version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n    depends_on: [network]\n"), 0o644)
		commitAll(t, dir, "typo")
		out, stderr, code := botPlan(t, "--repo", dir)
		if code != 1 || !strings.Contains(stderr, `line 5: stages[0].depends_on[0]: unknown stage "network"`) || out != "" {
			t.Errorf("exit %d, stderr %s, output:\n%s", code, stderr, out)
		}
	})
	t.Run("not a git repository", func(t *testing.T) {
		_, stderr, code := botPlan(t, "--repo", t.TempDir())
		if code != 1 || !strings.Contains(stderr, "not inside a git repository") {
			t.Errorf("exit %d, stderr %s", code, stderr)
		}
	})
}

// bot plan of a stage with instances prints the stage's one comment: a PR
// that changes two tenants' files plans those two, and the shared module
// plans all, one lane per instance as asked.
func TestBotPlanInstances(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, instanceRepo(t.TempDir(), "acme", "globex", "initech"))
	git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "tenants")
	writeFiles(t, dir, map[string]string{"terraform/tenants/acme.tfvars": "host = \"acme.example.org\"\n", "terraform/tenants/globex.tfvars": "host = \"globex.example.org\"\n"})
	commitAll(t, dir, "two hosts")
	out, stderr, code := botPlan(t, "--repo", dir, "--base", "HEAD~1", "--instance-parallelism", "2")
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, stderr, out)
	}
	if strings.Count(out, "<!-- stagebot:stage=tenant -->") != 1 || !strings.Contains(out, "`tenant`, 2 instance(s)") || !strings.Contains(out, "acme.example.org") || strings.Contains(out, "`initech`") {
		t.Errorf("two tenants' files:\n%s", out)
	}
	writeFiles(t, dir, map[string]string{"terraform/modules/site/main.tf": siteModule("v2")})
	commitAll(t, dir, "module v2")
	out, _, code = botPlan(t, "--repo", dir, "--base", "HEAD~1")
	if code != 0 || !strings.Contains(out, "`tenant`, 3 instance(s)") {
		t.Errorf("the shared module (exit %d):\n%s", code, out)
	}
}

// bot plan holds a change to the stages' policies as the bot does: those of
// the base, where one denies every create, are shown in the comment and
// end the command with an error; the change's own weaker policy counts only
// when asked for (-policies-from head). -detailed-exitcode tells "nothing
// to change" (0) from "changes" (2).
func TestBotPlanPoliciesAndExitCodes(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n    policies: [\"policies/*.rego\"]\n",
		"terraform/infrastructure/main.tf": "resource \"terraform_data\" \"network\" {\n  input = \"10.0.0.0/16\"\n}\n",
		"policies/creates.rego":            "package stagebot\n\ndeny contains msg if {\n\tsome rc in input.resource_changes\n\t\"create\" in rc.change.actions\n\tmsg := sprintf(\"%s would be created: nothing is created here\", [rc.address])\n}\n",
	})
	git(t, dir, "init", "-q", "-b", "main")
	commitAll(t, dir, "base")
	// The change edits the stage and, in the same commit, allows everything.
	writeFiles(t, dir, map[string]string{
		"terraform/infrastructure/main.tf": "resource \"terraform_data\" \"network\" {\n  input = \"10.1.0.0/16\"\n}\n",
		"policies/creates.rego":            "package stagebot\n",
	})
	commitAll(t, dir, "change")

	out, stderr, code := botPlan(t, "--repo", dir, "--base", "HEAD~1")
	if code != 1 || !strings.Contains(out, "terraform_data.network would be created: nothing is created here") || !strings.Contains(stderr, "denied by their policies") {
		t.Errorf("a plan the base's policy denies: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, stderr)
	}
	if !strings.Contains(stderr, "bot plan: planning 1 stage(s)") || !strings.Contains(stderr, "bot plan: infrastructure: denied by policy") {
		t.Errorf("no progress on stderr:\n%s", stderr)
	}
	out, stderr, code = botPlan(t, "--repo", dir, "--base", "HEAD~1", "-policies-from", "head", "-detailed-exitcode")
	if code != 2 || strings.Contains(out, "would be created: nothing") {
		t.Errorf("with the change's own policy and -detailed-exitcode: exit %d, want 2 (changes)\n%s\n%s", code, out, stderr)
	}
	// A stage with nothing to change: 0 with -detailed-exitcode.
	writeFiles(t, dir, map[string]string{"stagebot.yaml": "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n", "terraform/infrastructure/main.tf": "locals {\n  n = 1\n}\n"})
	commitAll(t, dir, "nothing to create")
	if out, stderr, code = botPlan(t, "--repo", dir, "-detailed-exitcode"); code != 0 {
		t.Errorf("no changes: exit %d\n%s\n%s", code, out, stderr)
	}
}
