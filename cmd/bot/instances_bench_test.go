package main

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"syscall"
	"testing"
)

// instanceBenchRepo is a git repository of the instance fixture with n
// tenants on main, and a branch pr changing what change gives.
func instanceBenchRepo(b *testing.B, n int, change map[string]string) string {
	dir, state := b.TempDir(), b.TempDir()
	var tenants []string
	for i := range n {
		tenants = append(tenants, fmt.Sprintf("t%03d", i))
	}
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-c", "user.name=b", "-c", "user.email=b@example.com"}, args...)...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	writeFiles(b, dir, instanceRepo(state, tenants...))
	git("init", "-q", "-b", "main")
	git("add", "-A")
	git("commit", "-qm", "tenants")
	git("checkout", "-qb", "pr")
	writeFiles(b, dir, change)
	git("add", "-A")
	git("commit", "-qm", "change")
	return dir
}

// BenchmarkInstancePlans is `bot plan` of a PR against a stage with
// instances (terraform_data, local state, init + plan + show of each
// planned instance): a PR that adds one tenant, with 5 and with 500 on
// main; and a PR that changes the module all 500 call, at parallelism 1, 2
// and 4. The 500-instance runs take minutes: -benchtime=1x.
func BenchmarkInstancePlans(b *testing.B) {
	addOne := map[string]string{"terraform/tenants/newco.tfvars": "host = \"newco.sites.example.com\"\n"}
	module := map[string]string{"terraform/modules/site/main.tf": siteModule("v2")}
	run := func(b *testing.B, tenants, parallelism int, change map[string]string) {
		repo := instanceBenchRepo(b, tenants, change)
		for b.Loop() {
			args := []string{"-repo", repo, "-base", "main", "-head", "pr", "-data-dir", b.TempDir(), "-terraform-bin", terraformBin(), "-instance-parallelism", fmt.Sprint(parallelism)}
			if err := planCmd(context.Background(), args, io.Discard, io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/plan")
		var ru syscall.Rusage
		syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
		b.ReportMetric(float64(ru.Maxrss)/1024, "maxrss-MiB")
	}
	b.Run("add-one/tenants=5", func(b *testing.B) { run(b, 5, 1, addOne) })
	b.Run("add-one/tenants=500", func(b *testing.B) { run(b, 500, 1, addOne) })
	for _, p := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("module/tenants=500/parallelism=%d", p), func(b *testing.B) { run(b, 500, p, module) })
	}
}
