package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/config"
)

func instanceFixture(t *testing.T, tenants ...string) (*config.Repo, string) {
	root := t.TempDir()
	files := map[string]string{
		"terraform/platform/main.tf":     "",
		"terraform/tenant/main.tf":       "module \"site\" {\n  source = \"../modules/site\"\n}\n",
		"terraform/modules/site/main.tf": "",
	}
	for _, n := range tenants {
		files["terraform/tenants/"+n+".tfvars"] = "host = \"" + n + "\"\n"
	}
	writeTree(root, files)
	repo, err := config.ParseRepo([]byte(`version: 1
stages:
  - name: platform
    dir: terraform/platform
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
    watch: ["charts/wordpress/**"]
    instances: {from: "terraform/tenants/*.tfvars"}
    backend_config: {key: "tenants/${instance}.tfstate"}
`), root)
	if err != nil {
		t.Fatal(err)
	}
	return repo, root
}

func describe(affected []Affected) string {
	var out []string
	for _, a := range affected {
		s := a.Stage.Name
		if a.Removed {
			s += "(removed)"
		}
		if a.Problem != "" {
			s += "(problem)"
		}
		if len(a.WaitingFor) > 0 {
			s += "[" + strings.Join(a.WaitingFor, ",") + "]"
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

func TestDetectInstances(t *testing.T) {
	repo, root := instanceFixture(t, "acme", "globex", "initech")
	for _, tc := range []struct {
		name    string
		changes []Change
		want    string
	}{
		{"one instance's file", []Change{{Path: "terraform/tenants/globex.tfvars"}}, "tenant:globex"},
		{"two files", []Change{{Path: "terraform/tenants/initech.tfvars"}, {Path: "terraform/tenants/acme.tfvars"}}, "tenant:acme tenant:initech"},
		{"the stage's code", []Change{{Path: "terraform/tenant/main.tf"}}, "tenant:acme tenant:globex tenant:initech"},
		{"a module it calls", []Change{{Path: "terraform/modules/site/main.tf"}}, "tenant:acme tenant:globex tenant:initech"},
		{"a watched file", []Change{{Path: "charts/wordpress/values.yaml"}}, "tenant:acme tenant:globex tenant:initech"},
		{"upstream and an instance", []Change{{Path: "terraform/platform/main.tf"}, {Path: "terraform/tenants/acme.tfvars"}}, "platform tenant:acme[platform]"},
		{"a deleted instance", []Change{{Path: "terraform/tenants/hooli.tfvars"}}, "tenant:hooli(removed)"},
		{"a renamed instance", []Change{{Path: "terraform/tenants/acme.tfvars", PreviousPath: "terraform/tenants/acme-old.tfvars"}}, "tenant:acme tenant:acme-old(removed)"},
		{"not an instance file", []Change{{Path: "terraform/tenants/README.md"}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Detect(repo, root, tc.changes)
			if err != nil {
				t.Fatal(err)
			}
			if describe(got) != tc.want {
				t.Errorf("got %q, want %q", describe(got), tc.want)
			}
		})
	}
	// Only the instance's own file is its reason; the code is everyone's.
	got, _ := Detect(repo, root, []Change{{Path: "terraform/tenants/globex.tfvars"}})
	if got[0].Stage.VarFile != "terraform/tenants/globex.tfvars" || got[0].Reasons[0] != "terraform/tenants/globex.tfvars (instance file)" {
		t.Errorf("tenant:globex = %+v", got[0])
	}
}

// A PR that adds a file whose name cannot be an instance's gets the stage
// reported, and nothing planned.
func TestDetectBadInstanceFile(t *testing.T) {
	repo, root := instanceFixture(t, "acme")
	os.WriteFile(filepath.Join(root, "terraform/tenants/ACME.tfvars"), nil, 0o644)
	got, err := Detect(repo, root, []Change{{Path: "terraform/tenants/ACME.tfvars"}})
	if err != nil {
		t.Fatal(err)
	}
	if describe(got) != "tenant(problem)" || !strings.Contains(got[0].Problem, "ACME.tfvars cannot be an instance") {
		t.Errorf("got %s: %+v", describe(got), got)
	}
}
