package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// stepSecret is a plan credential: the steps get it, as Terraform does, and
// nothing the bot writes may show it.
const stepSecret = "st3p-s3cret-4f1c9a77e2"

// stepsYAML gives infrastructure a pre_plan lint that fails on a file
// named fail-lint, a warn_only check that always fails, a post_plan step
// that reads the plan's JSON and prints the credential, and one that
// fails on a file named fail-post.
var stepsYAML = withSteps(`    steps:
      pre_plan:
        - name: lint
          run: 'echo "linted $STAGEBOT_STAGE in $(basename "$STAGEBOT_STAGE_DIR")"; if [ -f fail-lint ]; then echo "lint: fail-lint is not allowed" >&2; exit 3; fi'
        - name: advice
          run: 'echo "consider tagging every resource"; exit 1'
          warn_only: true
      post_plan:
        - name: count
          run: 'grep -q "\"format_version\"" "$STAGEBOT_PLAN_JSON" && echo "plan json read"; test -s "$STAGEBOT_PLAN_FILE" && echo "plan file present"; echo "token=$STEP_TOKEN"'
        - name: gate
          run: 'if [ -f fail-post ]; then echo "gate: fail-post found"; exit 4; fi'
      pre_apply:
        - name: announce
          run: 'echo "about to apply $STAGEBOT_STAGE"; test -s "$STAGEBOT_PLAN_JSON"'
      post_apply:
        - name: done
          run: 'echo "applied $STAGEBOT_STAGE token=$STEP_TOKEN"'
`)

// withSteps is the quickstart's stagebot.yaml with steps (the YAML of its
// steps: key, indented under the stage) on infrastructure.
func withSteps(steps string) string {
	return "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n" + steps +
		"  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\n" +
		"  - name: tenant\n    dir: terraform/tenant\n    depends_on: [platform]\n" +
		"apply:\n  requirements: [approved, mergeable, fresh]\n"
}

// TestStepsAroundPlanAndApply: the default branch's steps run around a
// PR's plan and apply, as the bot's runs do, with the plan's files and
// credentials; their output is in the stage comment under its heading,
// with the credential redacted; a failing pre_plan or post_plan step fails
// the check run and leaves nothing to apply, a warn_only one only warns;
// and a step a PR adds in its own stagebot.yaml does not run.
func TestStepsAroundPlanAndApply(t *testing.T) {
	f, state := mergeFlow(t, "STAGEBOT_PLAN_ENV=STEP_TOKEN=SRC_STEP_TOKEN", "STAGEBOT_APPLY_ENV=STEP_TOKEN=SRC_STEP_TOKEN", "SRC_STEP_TOKEN="+stepSecret)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": stepsYAML}, "steps")
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	change := strings.Replace(mainTF, `input = "demo-postgres"`, `input = "demo-postgres-2"`, 1)

	// A plan with every step passing but the warn_only one.
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": change}, f.base, 1)
	body := f.stageComment(1, "infrastructure", "#### Steps")
	for _, want := range []string{
		"✅ **`pre_plan` · lint** passed", "linted infrastructure in infrastructure",
		"⚠️ **`pre_plan` · advice** failed (warn only): exit status 1", "consider tagging every resource",
		"✅ **`post_plan` · count** passed", "plan json read", "plan file present", "token=",
		"✅ **`post_plan` · gate** passed", "To apply, comment `/apply infrastructure`",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, stepSecret) {
		t.Errorf("a step's output shows the credential:\n%s", body)
	}
	check := f.settledCheckRun("stagebot/infrastructure", func(c githubtest.CheckRun) bool { return c.Status == "completed" })
	if check.Conclusion != "success" || !strings.Contains(check.Summary, "linted infrastructure") || strings.Contains(check.Summary+check.Text, stepSecret) {
		t.Errorf("check run of a plan whose steps pass: %s %q\n%s", check.Conclusion, check.Title, check.Summary)
	}
	// pre_plan fails: no plan, a failed check run, nothing to apply.
	head2 := f.pr(2, "main", map[string]string{"terraform/infrastructure/main.tf": change, "terraform/infrastructure/fail-lint": "x"}, f.base, 1)
	failed := f.stageComment(2, "infrastructure", "The plan failed")
	for _, want := range []string{"pre_plan step lint failed: exit status 3", "❌ **`pre_plan` · lint** failed: exit status 3", "lint: fail-lint is not allowed"} {
		if !strings.Contains(failed, want) {
			t.Errorf("the comment of a failed pre_plan lacks %q:\n%s", want, failed)
		}
	}
	cr := f.completedOn("infrastructure", head2, func(c string) bool { return c != "" })
	if cr.Conclusion != "failure" {
		t.Errorf("check run of a failed pre_plan step: %s %q", cr.Conclusion, cr.Title)
	}
	if r := f.reply(2, f.say(2, "alice", "/apply infrastructure")); !strings.Contains(r, "no saved plan") {
		t.Errorf("/apply after a failed pre_plan step: %s", r)
	}

	// post_plan fails: the plan is shown, fails its check run, and is not
	// kept to be applied.
	head3 := f.pr(3, "main", map[string]string{"terraform/infrastructure/main.tf": change, "terraform/infrastructure/fail-post": "x"}, f.base, 1)
	blocked := f.stageComment(3, "infrastructure", "A step failed, so this plan cannot be applied")
	for _, want := range []string{"❌ **`post_plan` · gate** failed: exit status 4", "gate: fail-post found", "+2 to add"} {
		if !strings.Contains(blocked, want) {
			t.Errorf("the comment of a failed post_plan lacks %q:\n%s", want, blocked)
		}
	}
	cr = f.completedOn("infrastructure", head3, func(c string) bool { return c != "" })
	if strings.Contains(blocked, "To apply, comment") {
		t.Errorf("the comment of a plan a step blocked says how to apply it:\n%s", blocked)
	}
	if cr.Conclusion != "failure" || cr.Title != "Step gate (post_plan) failed" || offersApply(cr) {
		t.Errorf("check run of a failed post_plan step: %s %q %+v", cr.Conclusion, cr.Title, cr.Actions)
	}
	if r := f.reply(3, f.say(3, "alice", "/apply infrastructure")); !strings.Contains(r, "no saved plan") {
		t.Errorf("/apply after a failed post_plan step: %s", r)
	}

	// A PR's own stagebot.yaml cannot add a step.
	marker := filepath.Join(t.TempDir(), "pwned")
	prYAML := strings.Replace(stepsYAML, "      pre_plan:\n", "      pre_plan:\n        - name: evil\n          run: 'touch "+marker+"; echo EVIL-STEP-RAN'\n", 1)
	f.pr(4, "main", map[string]string{"terraform/infrastructure/main.tf": change, "stagebot.yaml": prYAML}, f.base, 1)
	own := f.stageComment(4, "infrastructure", "#### Steps")
	if strings.Contains(own, "EVIL-STEP-RAN") || strings.Contains(own, "`pre_plan` · evil") {
		t.Errorf("a step from the PR's stagebot.yaml ran:\n%s", own)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Error("a step from the PR's stagebot.yaml ran: its file exists")
	}

	// Applied: pre_apply and post_apply run with the apply's credentials.
	f.say(1, "alice", "/apply infrastructure")
	applied := f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	for _, want := range []string{"✅ **`pre_apply` · announce** passed", "about to apply infrastructure", "✅ **`post_apply` · done** passed", "applied infrastructure token="} {
		if !strings.Contains(applied, want) {
			t.Errorf("the apply comment lacks %q:\n%s", want, applied)
		}
	}
	if strings.Contains(applied, stepSecret) {
		t.Errorf("the apply comment shows the credential:\n%s", applied)
	}
	for name, log := range terraformLogs(f.bot.dataDir()) {
		if strings.Contains(log, stepSecret) {
			t.Errorf("log %s shows the credential", name)
		}
	}
}

// TestTFLintStep runs a real linter as a pre_plan step: TFLint with its
// bundled rules, on the PR's code. An unused variable fails the step, the
// check run and the plan, with TFLint's finding in the comment; the fix
// plans.
func TestTFLintStep(t *testing.T) {
	tflint := os.Getenv("STAGEBOT_TEST_TFLINT_BIN")
	if tflint == "" {
		t.Fatal("STAGEBOT_TEST_TFLINT_BIN is not set: run the tests with scripts/test, which builds TFLint from the Go module proxy")
	}
	f, state := mergeFlow(t)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": fmt.Sprintf(`version: 1
stages:
  - name: infrastructure
    dir: terraform/infrastructure
    steps:
      pre_plan:
        - name: tflint
          run: %s --format compact
          timeout: 2m
apply:
  requirements: [approved]
`, tflint)}, "tflint")
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	head := f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": mainTF + "\nvariable \"forgotten\" {\n  type = string\n}\n"}, f.base, 1)
	body := f.stageComment(1, "infrastructure", "The plan failed")
	for _, want := range []string{"❌ **`pre_plan` · tflint** failed: exit status 2", `variable "forgotten" is declared but not used (terraform_unused_declarations)`} {
		if !strings.Contains(body, want) {
			t.Errorf("the comment lacks %q:\n%s", want, body)
		}
	}
	if cr := f.completedOn("infrastructure", head, anyConclusion); cr.Conclusion != "failure" {
		t.Errorf("check run of a plan TFLint failed: %s %q", cr.Conclusion, cr.Title)
	}
	f.push(1, map[string]string{"terraform/infrastructure/main.tf": mainTF + "\n# linted\n"})
	fixed := f.stageComment(1, "infrastructure", "✅ **`pre_plan` · tflint** passed")
	if !strings.Contains(fixed, "To apply, comment `/apply infrastructure`") {
		t.Errorf("the plan after the fix:\n%s", fixed)
	}
}

// TestStepsInTheSandbox: with the uid sandbox, steps run as the run's own
// uid, not the bot's; a plan's steps get the plan credentials and never the
// apply's, an apply's the apply's; and what a step leaves running ends
// with its phase.
func TestStepsInTheSandbox(t *testing.T) {
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	data, state := sandboxtest.ReachableDir(t), sandboxtest.SharedDir(t, sandboxGID)
	main := fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(state, "infrastructure.tfstate"))
	steps := `    steps:
      pre_plan:
        - name: who
          run: 'echo "uid=$(id -u) token=${IONOS_TOKEN} hash=$(printf %s "$IONOS_TOKEN" | sha256sum | cut -c1-16)"; (sleep 2971; echo lingered) & echo started'
      post_apply:
        - name: who
          run: 'echo "uid=$(id -u) hash=$(printf %s "$IONOS_TOKEN" | sha256sum | cut -c1-16)"'
`
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\n" + steps + "apply:\n  requirements: []\n",
		"terraform/infrastructure/main.tf": main,
	}, "init")
	gh.SetPermission(repo, "alice", "write")
	env := append(botEnv(gh, data), "STAGEBOT_TERRAFORM_BIN="+terraformBin(), "STAGEBOT_SANDBOX=uid",
		"STAGEBOT_PLAN_ENV=IONOS_TOKEN=READONLY_TOKEN", "READONLY_TOKEN=plan-token-read-only",
		"STAGEBOT_APPLY_ENV=IONOS_TOKEN=ADMIN_TOKEN", "ADMIN_TOKEN=apply-token-admin-do-not-leak")
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}
	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/infrastructure/main.tf": main + "resource \"terraform_data\" \"x\" {\n  input = \"x\"\n}\n"}, "pr-1")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	plan := f.stageComment(1, "infrastructure", "#### Steps")
	uid := regexp.MustCompile(`uid=(\d+) token=(\S*)`).FindStringSubmatch(plan)
	if uid == nil || uid[1] == "0" || uid[1] == fmt.Sprint(os.Getuid()) || !strings.Contains(plan, "started") {
		t.Fatalf("the pre_plan step did not run as a sandbox uid:\n%s", plan)
	}
	hash := func(s string) string { return fmt.Sprintf("hash=%x", sha256.Sum256([]byte(s)))[:len("hash=")+16] }
	if uid[2] != "(redacted)" || !strings.Contains(plan, hash("plan-token-read-only")) || strings.Contains(plan, "apply-token-admin") {
		t.Errorf("the plan's step saw %q, not the plan credential (redacted):\n%s", uid[2], plan)
	}
	// The plan is done: nothing the step started runs on.
	// The plan is done: nothing the step started runs on (a process the
	// kernel is still taking down may show for a moment).
	var left string
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		out, _ := exec.Command("pgrep", "-f", "sleep 2971").Output()
		left = ""
		for _, pid := range strings.Fields(string(out)) {
			status, _ := os.ReadFile("/proc/" + pid + "/status")
			cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
			left += fmt.Sprintf("pid %s %q\n%s\n", pid, strings.ReplaceAll(string(cmdline), "\x00", " "), status)
		}
		if left == "" || time.Now().After(deadline) {
			break
		}
	}
	if left != "" {
		t.Errorf("a step's process outlived its phase:\n%s", left)
	}
	f.say(1, "alice", "/apply infrastructure")
	applied := f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !strings.Contains(applied, "✅ **`post_apply` · who** passed") || !strings.Contains(applied, hash("apply-token-admin-do-not-leak")) || strings.Contains(applied, "apply-token-admin") || strings.Contains(applied, "plan-token-read-only") {
		t.Errorf("the apply's step:\n%s", applied)
	}
	for name, log := range terraformLogs(data) {
		if strings.Contains(log, "apply-token-admin") || strings.Contains(log, "plan-token-read-only") {
			t.Errorf("log %s shows a credential", name)
		}
	}
}
