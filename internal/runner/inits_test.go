package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Instances planned one after another in one checkout share its init:
// each plan reads its own instance's state (no instance sees another's),
// only the first inits, and a plan that fails with a switched backend is
// planned again after a full init. With Terraform, and with OpenTofu.
func TestInstancesShareTheirLaneInit(t *testing.T) {
	engines := map[string]string{"terraform": terraformBin()}
	if tofu := os.Getenv("STAGEBOT_TEST_TOFU_BIN"); tofu != "" {
		engines["tofu"] = tofu
	} else if os.Getenv("CI") != "" {
		t.Fatal("STAGEBOT_TEST_TOFU_BIN is not set: run the tests with scripts/test")
	}
	for engine, bin := range engines {
		t.Run(engine, func(t *testing.T) {
			r, err := New(context.Background(), Config{TerraformBin: terraformBin(), TofuBin: bin, DataDir: t.TempDir(), Timeout: 5 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			root, state := t.TempDir(), t.TempDir()
			base := stage(t, root, "tenant", map[string]string{"main.tf": `terraform {
  backend "local" {}
}
variable "instance" {
  type = string
}
module "site" {
  source = "./site"
  name   = var.instance
}
`})
			if err := os.MkdirAll(filepath.Join(base.Dir, "site"), 0o755); err != nil {
				t.Fatal(err)
			}
			site := "variable \"name\" {\n  type = string\n}\nresource \"terraform_data\" \"site\" {\n  input = \"site ${var.name}\"\n}\n"
			if err := os.WriteFile(filepath.Join(base.Dir, "site", "main.tf"), []byte(site), 0o644); err != nil {
				t.Fatal(err)
			}
			instance := func(name string) Run {
				run := base
				run.Stage, run.Instance, run.Engine = "tenant:"+name, name, engine
				run.BackendConfig = map[string]string{"path": filepath.Join(state, name+".tfstate")}
				return run
			}
			ctx := context.Background()
			planApply(t, r, instance("a")) // a's state holds its site
			plan := func(name string) *PlanResult {
				t.Helper()
				res, err := r.Plan(ctx, instance(name))
				if err != nil {
					t.Fatalf("plan %s: %v", name, logOf(err))
				}
				return res
			}
			inits := func(res *PlanResult) int { return strings.Count(res.Log, "Initializing the backend") }

			b := plan("b")
			if !b.HasChanges || len(b.JSON.ResourceChanges) != 1 || b.JSON.ResourceChanges[0].Change.Actions.Create() == false {
				t.Fatalf("b, whose state is empty, should create its site:\n%s", b.Text)
			}
			if inits(b) != 0 {
				t.Fatalf("b was planned after a's init, yet ran its own:\n%s", b.Log)
			}
			if a := plan("a"); a.HasChanges || inits(a) != 0 {
				t.Fatalf("a, back after b, should read its own state (no changes) without an init:\n%s\n%s", a.Text, a.Log)
			}
			if _, err := os.Stat(filepath.Join(state, "b.tfstate")); err == nil {
				t.Fatal("a plan wrote b's state")
			}

			// What init installed is gone: the switched plan fails, and
			// a full init plans it.
			if err := os.RemoveAll(filepath.Join(base.Dir, ".terraform", "modules")); err != nil {
				t.Fatal(err)
			}
			b = plan("b")
			if !b.HasChanges || inits(b) != 1 || !strings.Contains(b.Log, "planning again after a full init") {
				t.Fatalf("b should have been planned again after a full init:\n%s", b.Log)
			}
		})
	}
}

// Where a plan's environment moves Terraform's data dir, every instance
// inits: the saved backend configuration is not where the bot would
// switch it.
func TestMovedDataDirInitsEachInstance(t *testing.T) {
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: t.TempDir(), Timeout: 5 * time.Minute, PlanEnv: map[string]string{"TF_DATA_DIR": ".tfdata"}})
	if err != nil {
		t.Fatal(err)
	}
	root, state := t.TempDir(), t.TempDir()
	base := stage(t, root, "tenant", map[string]string{"main.tf": "terraform {\n  backend \"local\" {}\n}\nresource \"terraform_data\" \"x\" {}\n"})
	// A saved backend configuration the PR brings where Terraform would
	// keep one, were its data dir not moved.
	if err := os.MkdirAll(filepath.Join(base.Dir, ".terraform"), 0o755); err != nil {
		t.Fatal(err)
	}
	planted := fmt.Sprintf(`{"version":3,"serial":1,"lineage":"x","backend":{"type":"local","config":{"path":%q,"workspace_dir":null},"hash":1}}`, filepath.Join(state, "a.tfstate"))
	if err := os.WriteFile(filepath.Join(base.Dir, ".terraform", "terraform.tfstate"), []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		run := base
		run.Stage, run.Instance = "tenant:"+name, name
		run.BackendConfig = map[string]string{"path": filepath.Join(state, name+".tfstate")}
		res, err := r.Plan(context.Background(), run)
		if err != nil {
			t.Fatal(logOf(err))
		}
		if !strings.Contains(res.Log, "Initializing the backend") {
			t.Errorf("%s was planned without an init, with TF_DATA_DIR moved:\n%s", name, res.Log)
		}
	}
}
