package config

import (
	"strings"
	"testing"
)

// terraform_version is a version or a constraint, on a stage or for the
// repository's Terraform stages, and never with OpenTofu.
func TestTerraformVersion(t *testing.T) {
	root := checkout(t, "a", "b")
	tests := []struct {
		name, yaml string
		want       map[string]string // stage -> its terraform_version
		errs       []string
	}{
		{"a stage's version", "version: 1\nstages:\n  - name: a\n    dir: a\n    terraform_version: 1.11.4\n  - name: b\n    dir: b\n",
			map[string]string{"a": "1.11.4", "b": ""}, nil},
		{"the repository's, unless the stage says its own", "version: 1\nterraform_version: \"~> 1.13.0\"\nstages:\n  - name: a\n    dir: a\n    terraform_version: \">= 1.11, < 1.12\"\n  - name: b\n    dir: b\n",
			map[string]string{"a": ">= 1.11, < 1.12", "b": "~> 1.13.0"}, nil},
		{"not for OpenTofu stages", "version: 1\nterraform_version: 1.13.3\nstages:\n  - name: a\n    dir: a\n    terraform_bin: tofu\n  - name: b\n    dir: b\n",
			map[string]string{"a": "", "b": "1.13.3"}, nil},
		{"not a constraint", "version: 1\nstages:\n  - name: a\n    dir: a\n    terraform_version: latest\n",
			nil, []string{"line 5", "stages[0].terraform_version", `"latest" is not a version or a version constraint`}},
		{"the repository's not a constraint", "version: 1\nterraform_version: \"1.x\"\nstages:\n  - name: a\n    dir: a\n",
			nil, []string{"line 2", "terraform_version", `"1.x" is not a version`}},
		{"with OpenTofu", "version: 1\nstages:\n  - name: a\n    dir: a\n    terraform_bin: tofu\n    terraform_version: 1.11.4\n",
			nil, []string{"line 6", "stages[0].terraform_version", "runs with OpenTofu (terraform_bin: tofu)"}},
		{"with OpenTofu for the repository", "version: 1\nterraform_bin: tofu\nstages:\n  - name: a\n    dir: a\n    terraform_version: 1.11.4\n",
			nil, []string{"line 6", "stages[0].terraform_version", "runs with OpenTofu"}},
		{"both for the repository", "version: 1\nterraform_bin: tofu\nterraform_version: 1.11.4\nstages:\n  - name: a\n    dir: a\n",
			nil, []string{"line 3", "terraform_version", "set terraform_version on the stages that say terraform_bin: terraform"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ParseRepo([]byte(tt.yaml), root)
			if tt.errs != nil {
				if err == nil {
					t.Fatal("accepted")
				}
				for _, w := range tt.errs {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q lacks %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for stage, want := range tt.want {
				if got := r.Stage(stage).TerraformVersion; got != want {
					t.Errorf("stage %s: terraform_version %q, want %q", stage, got, want)
				}
			}
		})
	}
}
