package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func terraformBin() string {
	if b := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN"); b != "" {
		return b
	}
	return "terraform"
}

func newRunner(t *testing.T, env map[string]string) *Runner {
	t.Helper()
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: t.TempDir(), Env: env, Timeout: 5 * time.Minute, GracePeriod: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stage writes files into a stage directory of a fake checkout and returns
// the Run for it.
func stage(t testing.TB, root, name string, files map[string]string) Run {
	t.Helper()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for f, content := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Run{Repo: "acme/platform", PR: 1, Stage: name, Root: root, Dir: dir, HeadSHA: "head1", BaseSHA: "base1"}
}

func backend(stateDir, name string) string {
	return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(stateDir, name+".tfstate"))
}

func remoteState(stateDir, name string) string {
	return fmt.Sprintf("data \"terraform_remote_state\" %q {\n  backend = \"local\"\n  config = {\n    path = %q\n  }\n}\n", name, filepath.Join(stateDir, name+".tfstate"))
}

func planApply(t *testing.T, r *Runner, run Run) *ApplyResult {
	t.Helper()
	ctx := context.Background()
	plan, err := r.Plan(ctx, run)
	if err != nil {
		t.Fatalf("plan %s: %v", run.Stage, logOf(err))
	}
	if err := r.MarkPosted(ctx, plan.Meta); err != nil {
		t.Fatal(err)
	}
	res, err := r.Apply(ctx, run)
	if err != nil {
		t.Fatalf("apply %s: %v", run.Stage, logOf(err))
	}
	return res
}

func logOf(err error) string {
	var re *RunError
	if errors.As(err, &re) {
		return err.Error() + "\n" + re.Output
	}
	return err.Error()
}

func output(t *testing.T, res *ApplyResult, name string) (string, bool) {
	t.Helper()
	for _, o := range res.Outputs {
		if o.Name == name {
			var v string
			if err := json.Unmarshal(o.Value, &v); err != nil {
				t.Fatalf("output %s = %s", name, o.Value)
			}
			return v, o.Sensitive
		}
	}
	t.Fatalf("no output %s in %+v", name, res.Outputs)
	return "", false
}

// Outputs flow down a 3-stage chain through terraform_remote_state.
func TestThreeStageChain(t *testing.T) {
	r := newRunner(t, nil)
	root, state := t.TempDir(), t.TempDir()
	infra := stage(t, root, "infrastructure", map[string]string{"main.tf": backend(state, "infrastructure") + `
resource "terraform_data" "cluster" {
  input = "cluster-1"
}
output "cluster" {
  value = terraform_data.cluster.output
}
output "db_password" {
  value     = "s3cr3t-db-pass"
  sensitive = true
}
`})
	platform := stage(t, root, "platform", map[string]string{"main.tf": backend(state, "platform") + remoteState(state, "infrastructure") + `
resource "terraform_data" "release" {
  input = "authentik on ${data.terraform_remote_state.infrastructure.outputs.cluster}"
}
output "release" {
  value = terraform_data.release.output
}
`})
	tenant := stage(t, root, "tenant", map[string]string{"main.tf": backend(state, "tenant") + remoteState(state, "platform") + `
output "site" {
  value = "wordpress next to ${data.terraform_remote_state.platform.outputs.release}"
}
`})
	res := planApply(t, r, infra)
	if v, sensitive := output(t, res, "db_password"); !sensitive || v != "s3cr3t-db-pass" {
		t.Errorf("db_password = %q sensitive=%v, want flagged sensitive", v, sensitive)
	}
	planApply(t, r, platform)
	res = planApply(t, r, tenant)
	if v, _ := output(t, res, "site"); v != "wordpress next to authentik on cluster-1" {
		t.Errorf("site = %q", v)
	}
	// A plan file holds secrets: it is gone after apply.
	if _, err := os.Stat(r.planPath(infra.Repo, infra.PR, infra.Stage)); !os.IsNotExist(err) {
		t.Errorf("plan file left after apply: %v", err)
	}
}

func TestPlanActions(t *testing.T) {
	r := newRunner(t, nil)
	root, state := t.TempDir(), t.TempDir()
	v1 := backend(state, "s") + `
resource "terraform_data" "keep" {
  input = "same"
}
resource "terraform_data" "update" {
  input = "v1"
}
resource "terraform_data" "replace" {
  triggers_replace = ["v1"]
}
resource "terraform_data" "destroy" {
  input = "bye"
}
`
	planApply(t, r, stage(t, root, "s", map[string]string{"main.tf": v1}))
	run := stage(t, root, "s", map[string]string{"main.tf": backend(state, "s") + `
resource "terraform_data" "keep" {
  input = "same"
}
resource "terraform_data" "update" {
  input = "v2"
}
resource "terraform_data" "replace" {
  triggers_replace = ["v2"]
}
resource "terraform_data" "create" {
  input = "hello"
}
`})
	run.HeadSHA = "head2"
	res, err := r.Plan(context.Background(), run)
	if err != nil {
		t.Fatal(logOf(err))
	}
	got := map[string]string{}
	for _, rc := range res.JSON.ResourceChanges {
		got[rc.Address] = fmt.Sprint(rc.Change.Actions)
	}
	want := map[string]string{
		"terraform_data.keep":    "[no-op]",
		"terraform_data.update":  "[update]",
		"terraform_data.replace": "[delete create]",
		"terraform_data.destroy": "[delete]",
		"terraform_data.create":  "[create]",
	}
	for addr, w := range want {
		if got[addr] != w {
			t.Errorf("%s: actions %s, want %s", addr, got[addr], w)
		}
	}
	if !res.HasChanges || !strings.Contains(res.Text, "Plan: 2 to add, 1 to change, 2 to destroy.") {
		t.Errorf("plan text lacks the summary:\n%s", res.Text)
	}
	// The plan is kept out of the checkout, 0600, in a 0700 directory.
	kept := r.planPath(run.Repo, run.PR, run.Stage)
	st, err := os.Stat(kept)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("kept plan: %v", err)
	}
	if dir, _ := os.Stat(filepath.Dir(kept)); dir.Mode().Perm() != 0o700 {
		t.Errorf("plan directory mode %v, want 0700", dir.Mode().Perm())
	}
	if _, err := os.Stat(filepath.Join(run.Dir, "stagebot.tfplan")); !os.IsNotExist(err) {
		t.Error("the plan file is still in the checkout")
	}
}

func TestFailingPlans(t *testing.T) {
	tests := []struct {
		name, tf, step, want string
	}{
		{"syntax error", "resource \"terraform_data\" \"x\" {\n  input = \n}\n", "init", "Invalid expression"},
		{"runtime error", "output \"x\" {\n  value = file(\"${path.module}/missing.txt\")\n}\n", "plan", "Invalid value for \"path\" parameter"},
		{"failed precondition", "variable \"n\" {\n  type    = number\n  default = 1\n}\nresource \"terraform_data\" \"x\" {\n  input = 1\n  lifecycle {\n    precondition {\n      condition     = var.n == 2\n      error_message = \"tenant name must be a DNS label\"\n    }\n  }\n}\n", "plan", "tenant name must be a DNS label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, nil)
			run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": tt.tf})
			_, err := r.Plan(context.Background(), run)
			var re *RunError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want a RunError", err)
			}
			if re.Step != tt.step || !strings.Contains(re.Output+re.Err.Error(), tt.want) {
				t.Fatalf("step %s, output:\n%s\nerr: %v\nwant step %s with %q", re.Step, re.Output, re.Err, tt.step, tt.want)
			}
			if _, err := r.Apply(context.Background(), run); !errors.Is(err, ErrStalePlan) {
				t.Errorf("apply after a failed plan: %v, want ErrStalePlan", err)
			}
		})
	}
}

func TestStalePlanRefused(t *testing.T) {
	r := newRunner(t, nil)
	state := t.TempDir()
	tests := []struct {
		name   string
		change func(run *Run)
		want   string
	}{
		{"new head", func(run *Run) { run.HeadSHA = "head2" }, "head is now head2"},
		{"new base", func(run *Run) { run.BaseSHA = "base2" }, "base is now base2"},
		{"plan file changed", func(run *Run) {
			os.WriteFile(r.planPath(run.Repo, run.PR, run.Stage), []byte("tampered"), 0o600)
		}, "changed since it was made"},
		{"plan file gone", func(run *Run) { os.Remove(r.planPath(run.Repo, run.PR, run.Stage)) }, "is gone"},
		{"never shown", func(run *Run) {}, "never shown in the pull request"},
		{"engine changed", func(run *Run) { run.Engine = OpenTofu }, "planned with terraform and now runs with tofu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": backend(state, tt.name) + "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"})
			plan, err := r.Plan(context.Background(), run)
			if err != nil {
				t.Fatal(logOf(err))
			}
			if tt.name != "never shown" {
				r.MarkPosted(context.Background(), plan.Meta)
			}
			tt.change(&run)
			_, err = r.Apply(context.Background(), run)
			if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "re-plan") {
				t.Fatalf("apply: %v; want a stale-plan error with %q", err, tt.want)
			}
			if _, err := os.Stat(filepath.Join(state, tt.name+".tfstate")); err == nil {
				if b, _ := os.ReadFile(filepath.Join(state, tt.name+".tfstate")); strings.Contains(string(b), "terraform_data") {
					t.Fatal("a stale plan was applied")
				}
			}
		})
	}
}

// manyResources is a stage with n terraform_data resources.
func manyResources(n int) string {
	return fmt.Sprintf("resource \"terraform_data\" \"r\" {\n  count = %d\n  input = count.index\n}\n", n)
}

func TestCancelMidPlan(t *testing.T) {
	r := newRunner(t, nil)
	state := t.TempDir()
	run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": backend(state, "s") + manyResources(20000)})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	start := time.Now()
	_, err := r.Plan(ctx, run)
	if err == nil {
		t.Fatal("the plan finished before the cancel: the fixture must be bigger for this test to mean anything")
	}
	if !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("err = %v, want cancelled", logOf(err))
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("plan took %s to stop after cancel", d)
	}
	for _, f := range []string{filepath.Join(run.Dir, "stagebot.tfplan"), r.planPath(run.Repo, run.PR, run.Stage)} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("a cancelled plan left a plan file: %s", f)
		}
	}
	// Terraform released its state lock: the next plan runs.
	run2 := stage(t, t.TempDir(), "s", map[string]string{"main.tf": backend(state, "s") + manyResources(2)})
	if _, err := r.Plan(context.Background(), run2); err != nil {
		t.Fatalf("plan after cancel: %v", logOf(err))
	}
}

func TestConcurrentInitsShareThePluginCache(t *testing.T) {
	r := newRunner(t, nil)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := stage(t, t.TempDir(), fmt.Sprintf("s%d", i), map[string]string{"main.tf": backend(t.TempDir(), "s") + manyResources(3)})
			run.PR = i
			_, errs[i] = r.Plan(context.Background(), run)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("plan %d: %v", i, logOf(err))
		}
	}
}

// Terraform sees the bot's CLI config and the allowlisted credentials,
// nothing else of the bot's environment.
func TestEnvironmentAllowlist(t *testing.T) {
	t.Setenv("STAGEBOT_GITHUB_WEBHOOK_SECRET", "do-not-leak-1")
	t.Setenv("STAGEBOT_DATABASE_URL", "postgres://u:do-not-leak-2@db/x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-allowlisted-3")
	t.Setenv("TF_CLI_CONFIG_FILE", "/nonexistent/terraformrc")
	r := newRunner(t, map[string]string{"IONOS_TOKEN": "allowed-token"})
	run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": backend(t.TempDir(), "s") + `
resource "terraform_data" "env" {
  provisioner "local-exec" {
    command = "env > ${path.module}/env.txt"
  }
}
`})
	res := planApply(t, r, run)
	env, err := os.ReadFile(filepath.Join(run.Dir, "env.txt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"do-not-leak-1", "do-not-leak-2", "not-allowlisted-3", "/nonexistent/terraformrc"} {
		if strings.Contains(string(env), leak) {
			t.Errorf("Terraform's environment contains %q", leak)
		}
	}
	if !strings.Contains(string(env), "IONOS_TOKEN=allowed-token") || !strings.Contains(string(env), "TF_CLI_CONFIG_FILE="+r.cliConfig) {
		t.Errorf("Terraform's environment lacks the allowlisted token or the bot's CLI config:\n%s", env)
	}
	if strings.Contains(res.Log, "Unable to open CLI configuration file") {
		t.Errorf("Terraform warned about its CLI config:\n%s", res.Log)
	}
}

// A stage (or a local module it calls) whose required_version excludes the
// bot's Terraform gets an error naming both versions and the setting to
// change, before Terraform runs.
func TestRequiredVersionExcludesOurTerraform(t *testing.T) {
	r := newRunner(t, nil)
	have := r.Version().String()
	root := t.TempDir()
	tests := []struct {
		name   string
		files  map[string]string
		module string
	}{
		{"stage", map[string]string{"main.tf": "terraform {\n  required_version = \">= 99.0.0\"\n}\n"}, ""},
		{"module", map[string]string{"main.tf": "module \"m\" {\n  source = \"../mod\"\n}\n"}, "../mod"},
	}
	stage(t, root, "mod", map[string]string{"main.tf": "terraform {\n  required_version = \"~> 0.12.0\"\n}\n"})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Plan(context.Background(), stage(t, root, "s-"+tt.name, tt.files))
			var ve *VersionError
			if !errors.As(err, &ve) {
				t.Fatalf("plan: %v, want a VersionError", err)
			}
			for _, want := range []string{"bot runs Terraform " + have, "STAGEBOT_TERRAFORM_BIN", "change required_version"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%q lacks %q", err, want)
				}
			}
			if ve.Module != tt.module {
				t.Errorf("module = %q, want %q", ve.Module, tt.module)
			}
		})
	}
	// A constraint the version meets plans as usual.
	ok := stage(t, root, "fine", map[string]string{"main.tf": "terraform {\n  required_version = \">= 1.10.0\"\n}\n"})
	if _, err := r.Plan(context.Background(), ok); err != nil {
		t.Fatalf("plan with a satisfied required_version: %v", logOf(err))
	}
}

// A stage that asks for OpenTofu on a bot without it fails with what to
// do, before anything runs.
func TestNoOpenTofu(t *testing.T) {
	r := newRunner(t, nil)
	r.tofu = nil // whatever the machine has on PATH
	run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"})
	run.Engine = OpenTofu
	_, err := r.Plan(context.Background(), run)
	if !errors.Is(err, ErrNoEngine) || !strings.Contains(err.Error(), "STAGEBOT_TOFU_BIN") {
		t.Fatalf("plan with no OpenTofu: %v", err)
	}
	if r.EngineOf(run) != "" {
		t.Errorf("EngineOf = %q", r.EngineOf(run))
	}
}

// planPath is where a disk-kept plan file is.
func (r *Runner) planPath(repo string, pr int, stage string) string {
	return r.files.(diskPlans).path(PlanKey{Repo: repo, PR: pr, Stage: stage})
}
