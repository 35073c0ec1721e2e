// Package terraform_test checks the platform's Terraform stages without a
// cloud: formatting, and static facts of their HCL and charts. The providers
// cannot be downloaded where the tests run: scripts/plan-stages plans the
// stages wherever providers can be had, and here it is checked to say so
// when they cannot.
package terraform_test

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

var stages = []string{"infrastructure", "cluster", "platform", "tenant", "modules/infrastructure-outputs", "modules/login", "modules/tenant-database"}

func terraformBin() string {
	if b := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN"); b != "" {
		return b
	}
	return "terraform"
}

func TestFormatted(t *testing.T) {
	cmd := exec.Command(terraformBin(), "fmt", "-check", "-recursive", "-diff", ".")
	cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("terraform fmt -check: %v\n%s", err, out)
	}
}

func load(t *testing.T, stage string) *tfconfig.Module {
	t.Helper()
	m, diags := tfconfig.LoadModule(stage)
	if diags.HasErrors() {
		t.Fatalf("%s: %s", stage, diags.Error())
	}
	return m
}

var secretName = regexp.MustCompile(`(?i)password|token|secret|kubeconfig|private`)

func TestStagesStatically(t *testing.T) {
	for _, stage := range stages {
		m := load(t, stage)
		for name, v := range m.Variables {
			if v.Type == "" || v.Description == "" {
				t.Errorf("%s: variable %s needs a type and a description", stage, name)
			}
		}
		for name, p := range m.RequiredProviders {
			if name == "terraform" {
				continue // built in (terraform_remote_state)
			}
			if len(p.VersionConstraints) == 0 || p.Source == "" {
				t.Errorf("%s: provider %s is not pinned to a source and version", stage, name)
			}
		}
		for name, o := range m.Outputs {
			if secretName.MatchString(name) && !o.Sensitive {
				t.Errorf("%s: output %s holds a secret but is not sensitive", stage, name)
			}
			if o.Description == "" {
				t.Errorf("%s: output %s has no description", stage, name)
			}
		}
		if len(m.RequiredCore) == 0 {
			t.Errorf("%s: no required_version", stage)
		}
	}
}

var remoteRef = regexp.MustCompile(`(?:data\.terraform_remote_state\.infrastructure\.outputs|local\.infra)\.([a-z0-9_]+)`)

// Every output a downstream stage reads exists upstream, and the outputs
// stagebot.yaml syncs into the Authentik secret exist too.
func TestDownstreamReadsExistUpstream(t *testing.T) {
	infra := load(t, "infrastructure")
	for _, stage := range []string{"cluster", "platform", "tenant"} {
		files, _ := filepath.Glob(filepath.Join(stage, "*.tf"))
		for _, f := range files {
			b, _ := os.ReadFile(f)
			for _, m := range remoteRef.FindAllStringSubmatch(string(b), -1) {
				if _, ok := infra.Outputs[m[1]]; !ok {
					t.Errorf("%s reads infrastructure output %q, which does not exist", f, m[1])
				}
			}
		}
	}
	// The secrets' sources in stagebot.yaml ("KEY: <stage>.<output>" and
	// the kubeconfig) exist in the stage they name.
	cfg, _ := os.ReadFile("../stagebot.yaml")
	refs := regexp.MustCompile(`(?m)^\s+[A-Za-z_]+:\s*(infrastructure|cluster)\.([a-z0-9_]+)\s*$`).FindAllStringSubmatch(string(cfg), -1)
	if len(refs) < 7 {
		t.Fatalf("found %d output references in stagebot.yaml's secrets, want two kubeconfigs and five database settings", len(refs))
	}
	for _, m := range refs {
		if _, ok := load(t, m[1]).Outputs[m[2]]; !ok {
			t.Errorf("stagebot.yaml reads %s output %q, which does not exist", m[1], m[2])
		}
	}
}

var (
	placeholder     = regexp.MustCompile(`(?i)REPLACE_ME|CHANGEME|CHANGE_ME|TODO|PleaseGenerate|xxxxx`)
	literalPassword = regexp.MustCompile(`(?i)(password|secret|token)\s*=\s*"[^"$]+"`)
)

// No literal secret or placeholder anywhere in terraform/ or charts/.
func TestNoSecretsOrPlaceholders(t *testing.T) {
	for _, root := range []string{".", "../charts"} {
		filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			b, _ := os.ReadFile(p)
			if m := placeholder.FindString(string(b)); m != "" {
				t.Errorf("%s contains the placeholder %q", p, m)
			}
			if m := literalPassword.FindString(string(b)); m != "" {
				t.Errorf("%s contains a literal secret: %s", p, m)
			}
			return nil
		})
	}
}

// Each tenant is a file terraform/tenants/<name>.tfvars (an instance of
// the tenant stage): its name is a DNS label, and its database's host
// number is 10 or more and no other tenant's, since one tenant's plan
// cannot see the others'.
func TestTenantFiles(t *testing.T) {
	files, _ := filepath.Glob("tenants/*.tfvars")
	if len(files) == 0 {
		t.Fatal("no tenant file in terraform/tenants")
	}
	label := regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,28}[a-z0-9])?$`)
	hostNumber := regexp.MustCompile(`(?m)^db_host_number\s*=\s*(\d+)\s*$`)
	taken := map[string]string{}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".tfvars")
		if !label.MatchString(name) {
			t.Errorf("tenant %q is not a DNS label", name)
		}
		b, _ := os.ReadFile(f)
		m := hostNumber.FindStringSubmatch(string(b))
		if m == nil {
			t.Errorf("%s has no db_host_number", f)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < 10 {
			t.Errorf("%s: db_host_number %d is below 10 (the infrastructure stage's hosts)", f, n)
		}
		if other, dup := taken[m[1]]; dup {
			t.Errorf("%s and %s both take db_host_number %s", other, f, m[1])
		}
		taken[m[1]] = f
	}
	// The stage reads what the files give, and its state is the tenant's.
	tenant := load(t, "tenant")
	for _, v := range []string{"instance", "db_host_number"} {
		if tenant.Variables[v] == nil {
			t.Errorf("the tenant stage does not declare variable %s", v)
		}
	}
	// Every setting a file makes is one the stage declares (Terraform only
	// warns of the others, and the value would be lost).
	assignment := regexp.MustCompile(`(?m)^([a-z_][a-z0-9_]*)\s*=`)
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, m := range assignment.FindAllStringSubmatch(string(b), -1) {
			if tenant.Variables[m[1]] == nil || m[1] == "instance" {
				t.Errorf("%s sets %s, which the tenant stage does not take from a file", f, m[1])
			}
		}
	}
	cfg, _ := os.ReadFile("../stagebot.yaml")
	if !strings.Contains(string(cfg), `instances: {from: "terraform/tenants/*.tfvars"}`) || !strings.Contains(string(cfg), `key: "tenants/${instance}.tfstate"`) {
		t.Error("stagebot.yaml does not run the tenant stage once per tenant file with a state each")
	}
}

// scripts/plan-stages never passes without planning: with no provider
// installation, or one that has none of the providers, it says it could
// not run and exits 3.
func TestPlanStagesSaysWhenItCannotRun(t *testing.T) {
	emptyMirror := filepath.Join(t.TempDir(), "mirror.tfrc")
	os.WriteFile(emptyMirror, []byte(fmt.Sprintf("provider_installation {\n  filesystem_mirror {\n    path = %q\n  }\n}\n", t.TempDir())), 0o600)
	for name, cliConfig := range map[string]string{
		"no provider installation": filepath.Join(t.TempDir(), "missing.tfrc"),
		"an empty mirror":          emptyMirror,
	} {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command("../scripts/plan-stages", "infrastructure")
			cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE="+cliConfig, "STAGEBOT_TERRAFORM_BIN="+terraformBin(),
				"STAGEBOT_PLAN_STAGES_REGISTRY=http://127.0.0.1:1")
			out, err := cmd.CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 3 {
				t.Fatalf("exit: %v, want 3\n%s", err, out)
			}
			if !strings.Contains(string(out), "could not run") || strings.Contains(string(out), "all planned") {
				t.Errorf("output does not say it could not run:\n%s", out)
			}
		})
	}
}
