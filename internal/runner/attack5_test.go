package runner

import (
	"context"
	"strings"
	"testing"
	"time"
)

// ${state_dir} names one directory for the whole server: the state of
// every repository the App serves. Two repositories whose stagebot.yaml
// say the same (both copied from the quickstart: path:
// ${state_dir}/infrastructure.tfstate) share one state file, so a plan or
// apply of one repository reads and rewrites the other's infrastructure,
// sensitive outputs included. Each repository's configuration is only
// trusted for that repository.
func TestAttack5StateDirIsSharedBetweenRepositories(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, Config{TerraformBin: terraformBin(), DataDir: t.TempDir(), StateDir: t.TempDir(), Timeout: 5 * time.Minute, GracePeriod: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	bc := map[string]string{"path": StateDirVar + "/infrastructure.tfstate"}

	alice := stage(t, t.TempDir(), "infrastructure", map[string]string{"main.tf": `
terraform {
  backend "local" {}
}
resource "terraform_data" "db" {
  input = "alice-db"
}
output "db_password" {
  value     = "alice-db-password-91c2"
  sensitive = true
}
`})
	alice.Repo, alice.BackendConfig = "alice/platform", bc
	planApply(t, r, alice)

	// Another repository, another owner, the same line in its stagebot.yaml.
	mallory := stage(t, t.TempDir(), "infrastructure", map[string]string{"main.tf": `
terraform {
  backend "local" {}
}
`})
	mallory.Repo, mallory.BackendConfig = "mallory/site", bc
	outs, err := r.StageOutputs(ctx, mallory)
	if err != nil {
		t.Fatalf("outputs: %v", logOf(err))
	}
	for _, o := range outs {
		if strings.Contains(string(o.Value), "alice-db-password") {
			t.Errorf("mallory/site's stage reads alice/platform's state: output %s = %s", o.Name, o.Value)
		}
	}
	plan, err := r.Plan(ctx, mallory)
	if err != nil {
		t.Fatalf("plan: %v", logOf(err))
	}
	if strings.Contains(plan.Text, "terraform_data.db") {
		t.Errorf("mallory/site's plan would destroy alice/platform's resources:\n%s", plan.Text)
	}
}

// A backend_config value cannot lead out of its repository's state dir:
// ${state_dir} only begins a path, and the path stays inside.
func TestStateDirValueStaysInside(t *testing.T) {
	ctx := context.Background()
	r, err := New(ctx, Config{TerraformBin: terraformBin(), DataDir: t.TempDir(), StateDir: t.TempDir(), Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{StateDirVar + "/../other_repo/infrastructure.tfstate", "/etc/" + StateDirVar + "/x.tfstate", StateDirVar + "/a/" + StateDirVar, StateDirVar} {
		run := stage(t, t.TempDir(), "infrastructure", map[string]string{"main.tf": "terraform {\n  backend \"local\" {}\n}\n"})
		run.Repo, run.BackendConfig = "acme/platform", map[string]string{"path": v}
		_, err := r.Plan(ctx, run)
		if err == nil || !strings.Contains(logOf(err), "may only begin a path inside it") {
			t.Errorf("path %s: %v", v, err)
		}
	}
}
