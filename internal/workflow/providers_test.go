package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

const (
	plugin   = "terraform/infrastructure/terraform.d/plugins/example.com/x/y/1.0.0/linux_amd64/terraform-provider-y"
	lockPath = "terraform/infrastructure/.terraform.lock.hcl"
)

// lockFile is a lock file with one provider at version, admitting hashes.
func lockFile(version string, hashes ...string) string {
	return "# This file is maintained automatically by \"terraform init\".\n" +
		"provider \"registry.terraform.io/hashicorp/null\" {\n  version     = \"" + version + "\"\n  constraints = \">= 3.0.0\"\n  hashes = [\n    \"" + strings.Join(hashes, "\",\n    \"") + "\",\n  ]\n}\n"
}

// Which files of a change a stage's plan may take provider code from.
func TestProviderDiff(t *testing.T) {
	dir := "terraform/infrastructure"
	base := map[string]string{
		"terraform/infrastructure/terraform.d/plugins/kept/terraform-provider-k": "100755 aaa",
		lockPath: "100644 lock1",
	}
	tests := []struct {
		name      string
		head      map[string]string
		wantFiles []string
		wantLock  bool
	}{
		{"nothing changed", base, nil, false},
		{"a plugin in the stage's implied mirror", with(base, plugin, "100755 bbb"), []string{plugin}, false},
		{"the base's plugin, changed", with(base, "terraform/infrastructure/terraform.d/plugins/kept/terraform-provider-k", "100755 ccc"), []string{"terraform/infrastructure/terraform.d/plugins/kept/terraform-provider-k"}, false},
		{"any file of a mirror, not only the binary", with(base, "terraform/infrastructure/terraform.d/plugins/example.com/x/y/1.0.0/linux_amd64/README", "100644 ddd"), []string{"terraform/infrastructure/terraform.d/plugins/example.com/x/y/1.0.0/linux_amd64/README"}, false},
		{"a mirror deeper in the stage", with(base, "terraform/infrastructure/modules/m/terraform.d/plugins/x", "100644 eee"), []string{"terraform/infrastructure/modules/m/terraform.d/plugins/x"}, false},
		{"providers init would reuse", with(base, "terraform/infrastructure/.terraform/providers/example.com/x/y/1.0.0/linux_amd64/bin", "100755 fff"), []string{"terraform/infrastructure/.terraform/providers/example.com/x/y/1.0.0/linux_amd64/bin"}, false},
		{"a provider package anywhere", with(base, "tools/terraform-provider-z_1.0.0_linux_amd64.zip", "100644 ggg"), []string{"tools/terraform-provider-z_1.0.0_linux_amd64.zip"}, false},
		{"another stage's mirror", with(base, "terraform/platform/terraform.d/plugins/x", "100644 hhh"), nil, false},
		{"a stage whose name starts the same", with(base, "terraform/infrastructure2/terraform.d/plugins/x", "100644 iii"), nil, false},
		{"the lock file changed", with(base, lockPath, "100644 lock2"), nil, true},
		{"the lock file removed", without(base, lockPath), nil, true},
		{"the base's plugin removed", without(base, "terraform/infrastructure/terraform.d/plugins/kept/terraform-provider-k"), nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files, lock := providerDiff(dir, base, tc.head)
			if diff := cmp.Diff(tc.wantFiles, files); diff != "" || lock != tc.wantLock {
				t.Errorf("files (-want +got):\n%s\nlock changed = %v, want %v", diff, lock, tc.wantLock)
			}
		})
	}
}

func with(m map[string]string, k, v string) map[string]string {
	out := without(m, "")
	out[k] = v
	return out
}

func without(m map[string]string, k string) map[string]string {
	out := map[string]string{}
	for p, v := range m {
		if p != k {
			out[p] = v
		}
	}
	return out
}

// What a lock file change admits: only versions and hashes count, never
// comments, formatting, order or constraints.
func TestLockChanges(t *testing.T) {
	base := lockFile("3.2.2", "h1:aaa=", "zh:111")
	tests := []struct {
		name string
		head string
		want []comments.LockChange
	}{
		{"same", base, nil},
		{"comments, order and constraints", "# edited by hand\n" + strings.Replace(lockFile("3.2.2", "zh:111", "h1:aaa="), ">= 3.0.0", "~> 3.2", 1), nil},
		{"a hash swapped", lockFile("3.2.2", "h1:evil=", "zh:111"), []comments.LockChange{{Provider: "registry.terraform.io/hashicorp/null", From: "3.2.2", To: "3.2.2", HashesAdded: 1, HashesRemoved: 1}}},
		{"another version", lockFile("3.2.3", "h1:bbb=", "zh:222"), []comments.LockChange{{Provider: "registry.terraform.io/hashicorp/null", From: "3.2.2", To: "3.2.3", HashesAdded: 2, HashesRemoved: 2}}},
		{"another provider", base + "provider \"example.com/x/y\" {\n  version = \"1.0.0\"\n  hashes = [\"h1:yyy=\"]\n}\n", []comments.LockChange{{Provider: "example.com/x/y", To: "1.0.0", HashesAdded: 1}}},
		{"removed", "", []comments.LockChange{{Provider: "registry.terraform.io/hashicorp/null", From: "3.2.2", HashesRemoved: 2}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := parseLock("base", []byte(base))
			if err != nil {
				t.Fatal(err)
			}
			h, err := parseLock("head", []byte(tc.head))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, lockChanges(b, h)); diff != "" {
				t.Errorf("changes (-want +got):\n%s", diff)
			}
		})
	}
	for _, bad := range []string{"provider \"x\" {\n", "provider \"x\" {\n  hashes = [upper(\"h1:a\")]\n}\n", "provider \"x\" {\n  version = 3\n}\n", "provider \"x\" {}\nprovider \"x\" {}\n"} {
		if _, err := parseLock("bad", []byte(bad)); err == nil {
			t.Errorf("parseLock(%q): no error", bad)
		}
	}
}

// A PR that brings provider code is found against the base it is judged
// by, and is not applied, even where the rules require no approval, until
// a writer who did not push it approves its head.
func TestProviderCodeNeedsAnApprovalThatCounts(t *testing.T) {
	ctx := context.Background()
	b := setup(t)
	b.fake.SetPermission(b.repo, "carol", "write")
	b.base = b.fake.Commit(b.repo, "main", "", map[string]string{"stagebot.yaml": relaxedRules, lockPath: lockFile("3.2.2", "h1:aaa=")}, "no approvals needed")
	tests := []struct {
		name  string
		files map[string]string
		want  *comments.ProviderCode // ApprovedBy aside
	}{
		{"a plugin", map[string]string{plugin: "#!/bin/sh\n"}, &comments.ProviderCode{Files: []string{plugin}}},
		{"a swapped hash", map[string]string{lockPath: lockFile("3.2.2", "h1:evil=")},
			&comments.ProviderCode{LockFile: lockPath, Lock: []comments.LockChange{{Provider: "registry.terraform.io/hashicorp/null", From: "3.2.2", To: "3.2.2", HashesAdded: 1, HashesRemoved: 1}}}},
		{"a broken lock file", map[string]string{lockPath: "provider {"}, &comments.ProviderCode{LockFile: lockPath, LockError: "broken"}},
		{"a comment in the lock file", map[string]string{lockPath: "# hi\n" + lockFile("3.2.2", "h1:aaa=")}, nil},
		{"no provider code", map[string]string{"terraform/infrastructure/x.tf": "# x\n"}, nil},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			number := i + 1
			branch := fmt.Sprint("pr-", number)
			head := b.fake.Commit(b.repo, branch, "main", tc.files, tc.name)
			b.fake.AddPull(b.repo, githubtest.Pull{Number: number, Author: "alice", HeadRef: branch, HeadSHA: head, BaseRef: "main", BaseSHA: b.base})
			if err := b.w.Store.AddHead(ctx, b.gh.FullName(), number, head); err != nil {
				t.Fatal(err)
			}
			tn, err := b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, number))
			if err != nil {
				t.Fatal(err)
			}
			got, err := tn.providerCode(ctx, head, *tn.cfg.Stage("infrastructure"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != nil {
				tc.want.Base = comments.RulesBase{Branch: "main", SHA: b.base}
				if tc.want.LockError != "" && got != nil && got.LockError != "" {
					tc.want.LockError = got.LockError // HCL's own words
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Fatalf("provider code (-want +got):\n%s", diff)
			}
			run := runner.Run{Repo: b.gh.FullName(), PR: number, Stage: "infrastructure", HeadSHA: head}
			stage := []stages.Affected{{Stage: *tn.cfg.Stage("infrastructure")}}
			if codes, err := tn.providerCodes(ctx, head, stage); err != nil || len(codes) != map[bool]int{true: 1}[tc.want != nil] || (codes["infrastructure"] != nil && codes["infrastructure"].Approved()) {
				t.Fatalf("the stages' provider code, unapproved: %+v (%v)", codes, err)
			}
			r := tn.checkRequirements(ctx, run, "/apply infrastructure")
			if (tc.want != nil) != (r != nil) || (r != nil && !strings.Contains(r.Why, "runs provider code from this pull request")) {
				t.Fatalf("apply without an approval, under rules that require none: %+v", r)
			}
			if tc.want == nil {
				return
			}
			// The pusher's own approval does not count; another writer's does.
			b.fake.AddReview(b.repo, number, githubtest.Review{User: "alice", State: "APPROVED", CommitID: head})
			tn, _ = b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, number))
			if r := tn.checkRequirements(ctx, run, "/apply infrastructure"); r == nil || !strings.Contains(r.Why, "Approvals by @alice do not count") {
				t.Errorf("apply approved by its author: %+v", r)
			}
			b.fake.AddReview(b.repo, number, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
			tn, _ = b.w.newTurn(ctx, githubtest.InstallationID, b.gh, b.read(t, number))
			if r := tn.checkRequirements(ctx, run, "/apply infrastructure"); r != nil {
				t.Errorf("apply approved by another writer: %+v", r)
			}
			codes, err := tn.providerCodes(ctx, head, stage)
			if err != nil || codes["infrastructure"] == nil || !cmp.Equal(codes["infrastructure"].ApprovedBy, []string{"carol"}) {
				t.Errorf("the stage's provider code, approved: %+v (%v)", codes, err)
			}
		})
	}
}
