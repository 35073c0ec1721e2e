package runner

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/sandbox"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// chain writes the 3-stage fixture (outputs flowing down through
// terraform_remote_state), applies it once, and returns the runs.
func chain(b *testing.B, r *Runner) []Run {
	root, state := b.TempDir(), b.TempDir()
	if r.sandbox.Isolated() {
		root, state = sandboxtest.ReachableDir(b), sandboxtest.SharedDir(b, testSandboxGID)
	}
	var runs []Run
	for i, name := range []string{"infrastructure", "platform", "tenant"} {
		tf := backend(state, name)
		if i > 0 {
			up := []string{"infrastructure", "platform"}[i-1]
			tf += remoteState(state, up) + fmt.Sprintf("output \"from_up\" {\n  value = data.terraform_remote_state.%s.outputs.name\n}\n", up)
		}
		tf += manyResources(100) + fmt.Sprintf("output \"name\" {\n  value = %q\n}\n", name)
		run := stage(b, root, name, map[string]string{"main.tf": tf})
		ctx := context.Background()
		plan, err := r.Plan(ctx, run)
		if err != nil {
			b.Fatal(logOf(err))
		}
		if err := r.MarkPosted(ctx, plan.Meta); err != nil {
			b.Fatal(err)
		}
		if _, err := r.Apply(ctx, run); err != nil {
			b.Fatal(logOf(err))
		}
		runs = append(runs, run)
	}
	return runs
}

// BenchmarkPlanChainRunner is the runner planning the 3-stage fixture:
// init, plan -out, show -json and show for each stage.
func BenchmarkPlanChainRunner(b *testing.B) {
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	runs := chain(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, run := range runs {
			if _, err := r.Plan(context.Background(), run); err != nil {
				b.Fatal(logOf(err))
			}
		}
	}
}

// BenchmarkPlanChainSandboxed is BenchmarkPlanChainRunner with each run in
// the uid sandbox, its namespaces, cgroup and egress proxy: what isolation
// costs a plan.
func BenchmarkPlanChainSandboxed(b *testing.B) {
	r := isolatedRunner(b, Config{})
	runs := chain(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, run := range runs {
			if _, err := r.Plan(context.Background(), run); err != nil {
				b.Fatal(logOf(err))
			}
		}
	}
}

// BenchmarkPlanChainShell runs the same Terraform commands by hand, as a
// shell script would, on the same fixture.
func BenchmarkPlanChainShell(b *testing.B) {
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	runs := chain(b, r)
	script := `set -e
tf=$1
$tf init -input=false -no-color >/dev/null
$tf plan -input=false -no-color -out=hand.tfplan >/dev/null
$tf show -json hand.tfplan >/dev/null
$tf show -no-color hand.tfplan >/dev/null
`
	env := os.Environ()
	for k, v := range r.env(&sandbox.Lease{}, "s", opPlan) {
		env = append(env, k+"="+v)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, run := range runs {
			cmd := exec.Command("sh", "-c", script, "sh", terraformBin())
			cmd.Dir = run.Dir
			cmd.Env = env
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	}
}

// BenchmarkPlan5000 is one stage of 5,000 terraform_data resources, planned
// from empty state; it reports the bot's own peak heap.
func BenchmarkPlan5000(b *testing.B) {
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	run := stage(b, b.TempDir(), "big", map[string]string{"main.tf": backend(b.TempDir(), "big") + manyResources(5000)})
	var peak uint64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := r.Plan(context.Background(), run)
		if err != nil {
			b.Fatal(logOf(err))
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
		if len(res.JSON.ResourceChanges) != 5000 {
			b.Fatalf("%d changes", len(res.JSON.ResourceChanges))
		}
	}
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(peak)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
}

// benchSteps are two trivial steps around each plan: what the steps
// themselves cost the bot (a shell in the run's sandbox, the plan's files
// for post_plan), not what the commands they run cost.
var benchSteps = &config.Steps{
	PrePlan:  []config.Step{{Name: "lint", Run: "echo linted"}},
	PostPlan: []config.Step{{Name: "read", Run: `test -s "$STAGEBOT_PLAN_JSON" && echo read`}},
}

// BenchmarkPlanChainSteps is BenchmarkPlanChainRunner with a pre_plan and
// a post_plan step per stage; BenchmarkPlanChainStepsSandboxed, with each
// in the uid sandbox as BenchmarkPlanChainSandboxed.
func BenchmarkPlanChainSteps(b *testing.B) {
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	benchPlanSteps(b, r)
}

func BenchmarkPlanChainStepsSandboxed(b *testing.B) { benchPlanSteps(b, isolatedRunner(b, Config{})) }

func benchPlanSteps(b *testing.B, r *Runner) {
	runs := chain(b, r)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, run := range runs {
			run.Steps = benchSteps
			res, err := r.Plan(context.Background(), run)
			if err != nil {
				b.Fatal(logOf(err))
			}
			if len(res.Steps) != 2 || res.Blocked() != nil {
				b.Fatalf("steps: %+v", res.Steps)
			}
		}
	}
}
