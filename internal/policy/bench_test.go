package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/stagebot/stagebot/internal/runner"
)

// plan300 plans the 300-resource fixture (three stages of 100
// terraform_data resources, as BenchmarkPlanChainRunner, in one root
// module here) with the real terraform binary and returns the plan JSON.
func plan300(b *testing.B) *tfjson.Plan {
	bin := os.Getenv("STAGEBOT_TEST_TERRAFORM_BIN")
	if bin == "" {
		bin = "terraform"
	}
	r, err := runner.New(context.Background(), runner.Config{TerraformBin: bin, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	var tf strings.Builder
	fmt.Fprintf(&tf, "terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", filepath.Join(b.TempDir(), "s.tfstate"))
	for _, name := range []string{"infrastructure", "platform", "tenant"} {
		fmt.Fprintf(&tf, "resource \"terraform_data\" %q {\n  count = 100\n  input = { stage = %q, index = count.index }\n}\n", name, name)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.tf"), []byte(tf.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	res, err := r.Plan(context.Background(), runner.Run{Repo: "acme/platform", PR: 1, Stage: "s", Dir: dir, HeadSHA: "h", BaseSHA: "b"})
	if err != nil {
		b.Fatal(err)
	}
	if n := len(res.JSON.ResourceChanges); n != 300 {
		b.Fatalf("%d resource changes", n)
	}
	return res.JSON
}

// BenchmarkPolicyEval300 evaluates this repository's policies against the
// 300-resource fixture plan: what each planned stage with policies costs.
func BenchmarkPolicyEval300(b *testing.B) {
	benchEval(b, plan300(b))
}

// BenchmarkPolicyEvalPlatform300 is the worst case for these policies: 300
// changes of the types they inspect (node pools, database clusters, and
// Helm releases whose values are parsed as YAML).
func BenchmarkPolicyEvalPlatform300(b *testing.B) {
	values := strings.NewReplacer("\n", `\n`, `"`, `\"`).Replace("global:\n  env:\n    - name: AUTHENTIK_LOG_LEVEL\n      value: info\nauthentik:\n  existingSecret:\n    secretName: authentik-env-secrets\nserver:\n  ingress:\n    enabled: true\n    hosts: [auth.example.com]\n")
	var changes []string
	for i := 0; i < 100; i++ {
		changes = append(changes,
			change(fmt.Sprintf("ionoscloud_k8s_node_pool.p%d", i), "ionoscloud_k8s_node_pool", []string{"update"}, nodePool(2, 5, 3)),
			change(fmt.Sprintf("ionoscloud_pg_cluster.c%d", i), "ionoscloud_pg_cluster", []string{"update"}, `{"cores":4}`),
			change(fmt.Sprintf("helm_release.r%d", i), "helm_release", []string{"update"}, `{"name":"r","values":["`+values+`"]}`))
	}
	benchEval(b, jsonDoc(b, `{"format_version":"1.2","resource_changes":[`+strings.Join(changes, ",")+`]}`))
}

// benchEval times the evaluation of this repository's policies against
// plan, which they must allow.
func benchEval(b *testing.B, plan any) {
	s := repoPolicies(b)
	in, err := NewInput(plan)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := s.Eval(context.Background(), in)
		if err != nil || res.Denied() {
			b.Fatal(res, err)
		}
	}
}

// BenchmarkPolicyInput300 converts the 300-resource plan for OPA: done
// once per plan, before its evaluation.
func BenchmarkPolicyInput300(b *testing.B) {
	plan := plan300(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := NewInput(plan); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPolicyCompile compiles this repository's policies: done once
// per planned PR.
func BenchmarkPolicyCompile(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		repoPolicies(b)
	}
}
