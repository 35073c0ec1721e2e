package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const instanced = `version: 1
stages:
  - name: platform
    dir: terraform/platform
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
    instances: {from: "terraform/tenants/*.tfvars"}
    backend_config: {bucket: state, key: "tenants/${instance}.tfstate"}
`

func TestInstanceUnits(t *testing.T) {
	root := checkout(t, "terraform/platform", "terraform/tenant", "terraform/tenants")
	for _, f := range []string{"globex.tfvars", "acme.tfvars", "README.md", "acme.tfvars.example"} {
		if err := os.WriteFile(filepath.Join(root, "terraform/tenants", f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r, err := ParseRepo([]byte(instanced), root)
	if err != nil {
		t.Fatal(err)
	}
	units, err := r.Units(root)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range units {
		names = append(names, u.Name)
	}
	if got := strings.Join(names, " "); got != "platform tenant:acme tenant:globex" {
		t.Fatalf("units = %s", got)
	}
	acme := units[1]
	if acme.VarFile != "terraform/tenants/acme.tfvars" || acme.BackendConfig["key"] != "tenants/acme.tfstate" || acme.BackendConfig["bucket"] != "state" || acme.Base != "tenant" || acme.Instance != "acme" {
		t.Errorf("tenant:acme = %+v", acme)
	}
	// The stage's own backend config is untouched.
	if r.Stage("tenant").BackendConfig["key"] != "tenants/${instance}.tfstate" {
		t.Error("making a unit changed its stage")
	}
	// A unit's name finds it without a checkout: commands name instances.
	if u := r.Stage("tenant:initech"); u == nil || u.VarFile != "terraform/tenants/initech.tfvars" || u.DependsOn[0] != "platform" {
		t.Errorf("Stage(tenant:initech) = %+v", u)
	}
	for _, bad := range []string{"platform:acme", "tenant:", "tenant:Acme", "tenant:a:b", "nope:acme"} {
		if r.Stage(bad) != nil {
			t.Errorf("Stage(%q) is not nil", bad)
		}
	}
	// A file that cannot be an instance's name is refused, not skipped.
	os.WriteFile(filepath.Join(root, "terraform/tenants", "Bad Name.tfvars"), nil, 0o644)
	if _, err := r.Units(root); err == nil || !strings.Contains(err.Error(), "terraform/tenants/Bad Name.tfvars cannot be an instance") {
		t.Errorf("a bad instance file: %v", err)
	}
}

func TestInstancesValidation(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{strings.Replace(instanced, "tenants/${instance}.tfstate", "tenants.tfstate", 1), "line 9: stages[1].backend_config: a stage with instances needs ${instance}"},
		{strings.Replace(instanced, "terraform/tenants/*.tfvars", "terraform/*/x.tfvars", 1), "line 8: stages[1].instances.from: \"terraform/*/x.tfvars\" must be a directory inside the repository and a file name with one *"},
		{strings.Replace(instanced, "terraform/tenants/*.tfvars", "../tenants/*.tfvars", 1), "must be a directory inside the repository"},
		{strings.Replace(instanced, "terraform/tenants/*.tfvars", "terraform/tenants/*-*.tfvars", 1), "with one *"},
		{instanced + "  - name: sites\n    dir: terraform/sites\n    depends_on: [tenant]\n", "stages[2].depends_on: stage \"tenant\" has instances: no stage can depend on it"},
		{instanced + "secrets:\n  - name: s\n    namespace: n\n    after: tenant\n    kubeconfig: platform.kubeconfig\n", "secrets[0]: stage \"tenant\" has instances: a secret cannot be written after it"},
	} {
		_, err := ParseRepo([]byte(tc.yaml), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
		}
	}
}
