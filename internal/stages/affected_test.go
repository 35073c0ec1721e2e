package stages

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/config"
)

func fixture(t *testing.T) (*config.Repo, string) {
	root := t.TempDir()
	files := map[string]string{
		"terraform/infrastructure/main.tf":         "module \"net\" {\n  source = \"../modules/network\"\n}\n",
		"terraform/modules/network/main.tf":        "module \"sub\" {\n  source = \"./subnet\"\n}\n",
		"terraform/modules/network/subnet/main.tf": "",
		"terraform/modules/unused/main.tf":         "",
		"terraform/platform/main.tf":               "module \"reg\" {\n  source  = \"terraform-aws-modules/vpc/aws\"\n  version = \"5.0.0\"\n}\n",
		"terraform/tenant/main.tf":                 "",
	}
	writeTree(root, files)
	repo, err := config.ParseRepo([]byte(`version: 1
stages:
  - name: infrastructure
    dir: terraform/infrastructure
  - name: platform
    dir: terraform/platform
    depends_on: [infrastructure]
    watch: ["charts/authentik/**", "charts/openwebui/**"]
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
    watch: ["charts/wordpress/**"]
`), root)
	if err != nil {
		t.Fatal(err)
	}
	return repo, root
}

func TestDetect(t *testing.T) {
	repo, root := fixture(t)
	tests := []struct {
		name    string
		changes []Change
		want    string // stage[waiting,...] in order
	}{
		{"nothing relevant", []Change{{Path: "README.md"}, {Path: "docs/x.md"}}, ""},
		{"one stage", []Change{{Path: "terraform/platform/main.tf"}}, "platform"},
		{"watch glob", []Change{{Path: "charts/wordpress/templates/deploy.yaml"}}, "tenant"},
		{"watch glob is anchored", []Change{{Path: "old/charts/wordpress/x"}}, ""},
		{"module", []Change{{Path: "terraform/modules/network/vars.tf"}}, "infrastructure"},
		{"nested module", []Change{{Path: "terraform/modules/network/subnet/main.tf"}}, "infrastructure"},
		{"unused module", []Change{{Path: "terraform/modules/unused/main.tf"}}, ""},
		{"dir prefix is not the dir", []Change{{Path: "terraform/platform-old/main.tf"}}, ""},
		{"rename out of a stage", []Change{{Path: "attic/main.tf", PreviousPath: "terraform/tenant/main.tf"}}, "tenant"},
		{"rename into a stage", []Change{{Path: "terraform/tenant/x.tf", PreviousPath: "attic/x.tf"}}, "tenant"},
		{"all three: downstream waits", []Change{{Path: "terraform/infrastructure/main.tf"}, {Path: "charts/authentik/values.yaml"}, {Path: "terraform/tenant/main.tf"}},
			"infrastructure platform[infrastructure] tenant[infrastructure,platform]"},
		{"two apart wait transitively", []Change{{Path: "terraform/tenant/main.tf"}, {Path: "terraform/modules/network/main.tf"}}, "infrastructure tenant[infrastructure]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Detect(repo, root, tt.changes)
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, a := range got {
				s := a.Stage.Name
				if !a.Ready() {
					s += "[" + strings.Join(a.WaitingFor, ",") + "]"
				}
				parts = append(parts, s)
			}
			if g := strings.Join(parts, " "); g != tt.want {
				t.Errorf("affected = %q, want %q", g, tt.want)
			}
		})
	}
}

// writeTree writes files (path: content) under root.
func writeTree(root string, files map[string]string) {
	for p, c := range files {
		full := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		os.WriteFile(full, []byte(c), 0o644)
	}
}
