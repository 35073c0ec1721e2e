package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func checkout(t *testing.T, dirs ...string) string {
	root := t.TempDir()
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const good = `version: 1
stages:
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
  - name: infrastructure
    dir: terraform/infrastructure
  - name: platform
    dir: terraform/platform
    depends_on: [infrastructure]
    watch: ["charts/authentik/**"]
apply:
  requirements: [approved, mergeable, fresh]
`

func TestParseRepoOrdersStages(t *testing.T) {
	root := checkout(t, "terraform/infrastructure", "terraform/platform", "terraform/tenant")
	r, err := ParseRepo([]byte(good), root)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.StageNames(), ","); got != "infrastructure,platform,tenant" {
		t.Errorf("order = %s", got)
	}
	if r.Apply.Permission != "write" || !r.Apply.OnMergeEnabled() {
		t.Errorf("defaults: permission %q on_merge %v", r.Apply.Permission, r.Apply.OnMergeEnabled())
	}
	up := r.Upstream("tenant")
	if !up["platform"] || !up["infrastructure"] || len(up) != 2 {
		t.Errorf("upstream of tenant = %v", up)
	}
}

func TestParseRepoErrorsPointAtKeyAndLine(t *testing.T) {
	root := checkout(t, "a", "b")
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown key", "version: 1\nstages:\n  - name: a\n    dir: a\n    dependson: [b]\n", []string{"line 5", "dependson"}},
		{"unknown top-level key", "version: 1\nstage:\n  - name: a\n", []string{"line 2", "stage"}},
		{"unknown stage in depends_on", "version: 1\nstages:\n  - name: a\n    dir: a\n    depends_on:\n      - nope\n", []string{"line 6", "stages[0].depends_on[0]", `unknown stage "nope"`}},
		{"cycle", "version: 1\nstages:\n  - name: a\n    dir: a\n    depends_on: [b]\n  - name: b\n    dir: b\n    depends_on: [a]\n", []string{"cycle", "a -> b -> a"}},
		{"missing dir", "version: 1\nstages:\n  - name: a\n    dir: gone\n", []string{"line 4", "stages[0].dir", `"gone" does not exist`}},
		{"dir outside repo", "version: 1\nstages:\n  - name: a\n    dir: ../x\n", []string{"inside the repository"}},
		{"bad name", "version: 1\nstages:\n  - name: A B\n    dir: a\n", []string{"line 3", "not a valid stage name"}},
		{"duplicate", "version: 1\nstages:\n  - name: a\n    dir: a\n  - name: a\n    dir: b\n", []string{"line 5", "defined twice"}},
		{"bad requirement", "version: 1\nstages:\n  - name: a\n    dir: a\napply:\n  requirements: [approved, green]\n", []string{"line 6", `unknown requirement "green"`}},
		{"bad role", "version: 1\nstages:\n  - name: a\n    dir: a\napply:\n  permission: owner\n", []string{"line 6", "not a role"}},
		{"bad version", "version: 2\nstages:\n  - name: a\n    dir: a\n", []string{"line 1", "version"}},
		{"bad glob", "version: 1\nstages:\n  - name: a\n    dir: a\n    watch: [\"charts/[\"]\n", []string{"not a valid glob"}},
		{"not yaml", "version: [1\n", []string{"stagebot.yaml"}},
		{"empty", "", []string{"empty"}},
		{"secret refers to unknown stage", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    data:\n      X: zz.out\n", []string{"line 11", `unknown stage "zz"`}},
		{"copy from a later secret", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: c\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    copy:\n      K: s.K\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    generate:\n      K: hex32\n", []string{"line 11", "secrets[0].copy.K", `no secret "s" is listed before this one`}},
		{"copy of a missing key", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    generate:\n      K: hex32\n  - name: c\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    copy:\n      K: s.OTHER\n", []string{"line 17", `secret "s" has no key "OTHER"`}},
		{"copy without a key", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    generate:\n      K: hex32\n  - name: c\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    copy:\n      K: s\n", []string{`"s" must be <secret>.<key>`}},
		{"copy across stages", "version: 1\nstages:\n  - name: a\n    dir: a\n  - name: b\n    dir: b\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    generate:\n      K: hex32\n  - name: c\n    namespace: n\n    after: b\n    kubeconfig: a.kubeconfig\n    copy:\n      K: s.K\n", []string{"copy needs the same after"}},
		{"bad drift schedule", "version: 1\nstages:\n  - name: a\n    dir: a\ndrift:\n  schedule: every morning\n", []string{"line 6", "drift.schedule", "not a cron schedule"}},
		{"drift of an unknown stage", "version: 1\nstages:\n  - name: a\n    dir: a\ndrift:\n  schedule: \"0 6 * * *\"\n  stages: [b]\n", []string{"line 7", "drift.stages[0]", `unknown stage "b"`}},
		{"engine path", "version: 1\nterraform_bin: /tmp/evil\nstages:\n  - name: a\n    dir: a\n", []string{"line 2", "terraform_bin", "not an engine"}},
		{"stage engine", "version: 1\nstages:\n  - name: a\n    dir: a\n    terraform_bin: opentofu\n", []string{"line 5", "stages[0].terraform_bin", "write terraform or tofu"}},
		{"bad team", "version: 1\nstages:\n  - name: a\n    dir: a\n    apply:\n      teams: [\"platform-admins\"]\n", []string{"line 6", "stages[0].apply.teams[0]", "write org/team-slug"}},
		{"secret in kube-system", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: kube-system\n    after: a\n    kubeconfig: a.kubeconfig\n", []string{"line 7", `"kube-system" is one of Kubernetes' own namespaces`}},
		{"secret restart kind", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    restart: [statefulset/web, cronjob/backup]\n", []string{"line 10", `"cronjob/backup" must be deployment/<name>, statefulset/<name> or daemonset/<name>`}},
		{"secret generator", "version: 1\nstages:\n  - name: a\n    dir: a\nsecrets:\n  - name: s\n    namespace: n\n    after: a\n    kubeconfig: a.kubeconfig\n    generate:\n      K: rand\n", []string{"line 11", `unknown generator "rand"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRepo([]byte(tt.yaml), root)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// The repository's own stagebot.yaml is valid against its own tree.
func TestThisRepositorysConfig(t *testing.T) {
	r, err := LoadRepo("../..")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.StageNames(), ","); got != "infrastructure,cluster,platform,tenant" {
		t.Errorf("stages = %s", got)
	}
}
