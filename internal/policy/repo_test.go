package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/config"
)

// repoPolicies compiles this repository's own policies (policies/*.rego).
func repoPolicies(t testing.TB) *Set {
	t.Helper()
	paths, err := filepath.Glob("../../policies/*.rego")
	if err != nil || len(paths) < 3 {
		t.Fatalf("policies: %v %v", paths, err)
	}
	var mods []Module
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mods = append(mods, Module{Path: "policies/" + filepath.Base(p), Source: b})
	}
	s, err := Compile(context.Background(), mods)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// change is one resource_changes entry as terraform show -json prints it.
func change(address, typ string, actions []string, after string) string {
	return fmt.Sprintf(`{"address":%q,"mode":"managed","type":%q,"name":"x","provider_name":"registry.terraform.io/p/p","change":{"actions":[%s],"before":null,"after":%s,"after_unknown":{}}}`,
		address, typ, `"`+strings.Join(actions, `","`)+`"`, after)
}

func nodePool(min, max, count int) string {
	return fmt.Sprintf(`{"name":"workers","node_count":%d,"auto_scaling":[{"min_node_count":%d,"max_node_count":%d}]}`, count, min, max)
}

// The platform's policies: databases are not destroyed or replaced without
// approval, node pools stay within the autoscaling bounds, and nothing in
// Terraform creates the Secrets stagebot writes.
func TestRepositoryPolicies(t *testing.T) {
	s := repoPolicies(t)
	release := func(values string) string {
		b := strings.NewReplacer("\n", `\n`, `"`, `\"`).Replace(values)
		return fmt.Sprintf(`{"name":"authentik","namespace":"admin-apps","values":["%s"]}`, b)
	}
	for _, tc := range []struct {
		name   string
		change string
		deny   string // "" = allowed
	}{
		{"pg destroyed", change("ionoscloud_pg_cluster.authentik", "ionoscloud_pg_cluster", []string{"delete"}, "null"),
			"ionoscloud_pg_cluster.authentik (the PostgreSQL cluster) would be destroyed and its data lost"},
		{"mariadb replaced", change(`ionoscloud_mariadb_cluster.tenant["blog"]`, "ionoscloud_mariadb_cluster", []string{"delete", "create"}, `{"display_name":"blog"}`),
			`ionoscloud_mariadb_cluster.tenant["blog"] (a tenant's MariaDB cluster) would be replaced`},
		{"pg resized", change("ionoscloud_pg_cluster.authentik", "ionoscloud_pg_cluster", []string{"update"}, `{"cores":4}`), ""},
		{"pool in bounds", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"create"}, nodePool(2, 5, 2)), ""},
		{"pool too big", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"update"}, nodePool(2, 40, 2)),
			"ionoscloud_k8s_node_pool.workers scales up to 40 nodes: the most is 10"},
		{"pool to zero", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"update"}, nodePool(0, 5, 2)),
			"scales down to 0 nodes: the least is 1"},
		{"pool inverted", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"update"}, nodePool(6, 5, 6)),
			"min_node_count 6 above max_node_count 5"},
		{"pool count outside", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"update"}, nodePool(2, 5, 9)),
			"node_count 9 outside its autoscaling bounds 2..5"},
		{"pool fixed size", change("ionoscloud_k8s_node_pool.workers", "ionoscloud_k8s_node_pool", []string{"create"}, `{"node_count":3,"auto_scaling":[]}`),
			"ionoscloud_k8s_node_pool.workers has no auto_scaling"},
		{"secret by terraform", change("kubernetes_secret_v1.env", "kubernetes_secret_v1", []string{"create"}, `{"metadata":[{"name":"authentik-env-secrets","namespace":"admin-apps"}]}`),
			"kubernetes_secret_v1.env creates Secret authentik-env-secrets, which stagebot manages"},
		{"tenant db secret", change("kubernetes_secret_v1.db", "kubernetes_secret_v1", []string{"create"}, `{"metadata":[{"name":"wordpress-db","namespace":"tenant-blog"}]}`), ""},
		{"secret in values", change("helm_release.authentik", "helm_release", []string{"update"}, release("additionalObjects:\n  - apiVersion: v1\n    kind: Secret\n    metadata:\n      name: openwebui-oidc\n    stringData:\n      client-secret: x\n")),
			"helm_release.authentik renders Secret openwebui-oidc, which stagebot manages"},
		{"no values", change(`helm_release.wordpress["acme"]`, "helm_release", []string{"create"}, `{"name":"wordpress","values":null,"manifest":null,"set":[{"name":"x","value":"y"}]}`), ""},
		{"ordinary values", change("helm_release.authentik", "helm_release", []string{"update"}, release("global:\n  env:\n    - name: X\n      value: y\nauthentik:\n  existingSecret:\n    secretName: authentik-env-secrets\n")), ""},
		{"secret in manifest", change("helm_release.openwebui", "helm_release", []string{"create"}, `{"values":[],"manifest":"---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: authentik-env-secrets\n"}`),
			"helm_release.openwebui renders Secret authentik-env-secrets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := eval(t, s, `{"format_version":"1.2","resource_changes":[`+tc.change+`]}`)
			got := strings.Join(res.Deny, "\n")
			switch {
			case tc.deny == "" && got != "":
				t.Errorf("denied: %s", got)
			case tc.deny != "" && !strings.Contains(got, tc.deny):
				t.Errorf("deny = %q, want %q", got, tc.deny)
			}
		})
	}
}

// Every stage of this repository's stagebot.yaml has policies, and its
// globs find the policy files.
func TestRepositoryStagesHavePolicies(t *testing.T) {
	data, err := os.ReadFile("../../stagebot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseRepo(data, "../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range cfg.Stages {
		if len(st.Policies) == 0 || cfg.PolicyOwners(st.Name).Empty() {
			t.Errorf("stage %s has no policies or no policy owners", st.Name)
		}
		for _, g := range st.Policies {
			if m, _ := filepath.Glob(filepath.Join("../..", g)); len(m) == 0 {
				t.Errorf("stage %s: %s matches no file", st.Name, g)
			}
		}
	}
}
