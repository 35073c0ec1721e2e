package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// testTerraforms are two Terraforms of different minor versions, oldest
// first, from STAGEBOT_TEST_TERRAFORM_VERSIONS (binaries, colon-separated;
// scripts/test sets it). Without them the test is skipped, and fails on CI.
func testTerraforms(t *testing.T) (older, newer *engine) {
	t.Helper()
	var found []*engine
	for _, bin := range filepath.SplitList(os.Getenv("STAGEBOT_TEST_TERRAFORM_VERSIONS")) {
		if bin == "" {
			continue
		}
		e, err := findEngine(context.Background(), Terraform, bin)
		if err != nil {
			t.Fatal(err)
		}
		found = append(found, e)
	}
	slices.SortFunc(found, func(a, b *engine) int { return a.version.Compare(b.version) })
	if len(found) < 2 || found[0].version.Segments()[1] == found[len(found)-1].version.Segments()[1] {
		msg := fmt.Sprintf("STAGEBOT_TEST_TERRAFORM_VERSIONS=%q does not name Terraforms of two minor versions: run the tests with scripts/test, which builds 1.13.3 besides the Terraform on PATH", os.Getenv("STAGEBOT_TEST_TERRAFORM_VERSIONS"))
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return found[0], found[len(found)-1]
}

// link makes path (and its directory) a symbolic link to target.
func link(t *testing.T, target, path string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
}

// minor is "X.Y" of e.
func minor(e *engine) string {
	s := e.version.Segments()
	return fmt.Sprintf("%d.%d", s[0], s[1])
}

// A versions dir holds Terraforms as DIR/VERSION/terraform,
// DIR/terraform_VERSION or DIR/terraform-VERSION; what each binary says
// it is counts, and one whose name says otherwise stops the bot.
func TestScanVersionsDir(t *testing.T) {
	bin, err := findTerraform(context.Background(), terraformBin())
	if err != nil {
		t.Fatal(err)
	}
	v := bin.version.String()
	tests := []struct {
		name  string
		links map[string]string // path in the dir -> target
		files map[string]os.FileMode
		want  []string
		err   []string
	}{
		{name: "a directory per version", links: map[string]string{v + "/terraform": bin.bin}, want: []string{v}},
		{name: "terraform_VERSION", links: map[string]string{"terraform_" + v: bin.bin}, want: []string{v}},
		{name: "terraform-VERSION", links: map[string]string{"terraform-" + v: bin.bin}, want: []string{v}},
		{name: "other entries are left alone", links: map[string]string{v + "/terraform": bin.bin, ".older/terraform": bin.bin, "terraform": bin.bin},
			files: map[string]os.FileMode{"README": 0o644, "notes/todo": 0o644}, want: []string{v}},
		{name: "a name that is not the binary's version", links: map[string]string{"9.9.9/terraform": bin.bin},
			err: []string{"9.9.9/terraform is named for Terraform 9.9.9, and says it is " + v, "rename it"}},
		{name: "a version's directory without terraform", files: map[string]os.FileMode{"1.2.3/tofu": 0o755},
			err: []string{"1.2.3/terraform is named for Terraform 1.2.3"}},
		{name: "not executable", files: map[string]os.FileMode{"terraform_1.2.3": 0o644},
			err: []string{"terraform_1.2.3 is named for Terraform 1.2.3, and is no executable file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, target := range tt.links {
				link(t, target, filepath.Join(dir, p))
			}
			for p, mode := range tt.files {
				os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
				if err := os.WriteFile(filepath.Join(dir, p), []byte("#!/bin/sh\n"), mode); err != nil {
					t.Fatal(err)
				}
			}
			_, err := New(context.Background(), Config{TerraformBin: terraformBin(), TerraformVersionsDir: dir, DataDir: t.TempDir()})
			found, scanErr := scanVersions(context.Background(), dir)
			if tt.err != nil {
				for _, e := range []error{err, scanErr} {
					if e == nil {
						t.Fatal("accepted")
					}
					for _, w := range tt.err {
						if !strings.Contains(e.Error(), w) {
							t.Errorf("%q lacks %q", e, w)
						}
					}
				}
				return
			}
			if err != nil || scanErr != nil {
				t.Fatalf("New: %v; scan: %v", err, scanErr)
			}
			var got []string
			for _, e := range found {
				got = append(got, e.version.String())
				if real, _ := filepath.EvalSymlinks(bin.bin); e.bin != real {
					t.Errorf("binary %s, want the file itself, %s", e.bin, real)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("versions %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := New(context.Background(), Config{TerraformBin: terraformBin(), TerraformVersionsDir: filepath.Join(t.TempDir(), "gone"), DataDir: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "terraform versions dir") {
		t.Errorf("a missing versions dir: %v", err)
	}
}

// versionsRunner is a runner whose default Terraform is def, with a
// versions dir holding more: each as DIR/VERSION/terraform.
func versionsRunner(t *testing.T, def *engine, more ...*engine) *Runner {
	t.Helper()
	dir := t.TempDir()
	for _, e := range more {
		link(t, e.bin, filepath.Join(dir, e.version.String(), "terraform"))
	}
	r, err := New(context.Background(), Config{TerraformBin: def.bin, TerraformVersionsDir: dir, DataDir: t.TempDir(), Timeout: 5 * time.Minute, GracePeriod: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func requires(c string) string { return fmt.Sprintf("terraform {\n  required_version = %q\n}\n", c) }

const someResource = "resource \"terraform_data\" \"x\" {\n  input = \"x\"\n}\n"

// A stage plans with the newest Terraform the bot has that its
// terraform_version and the required_version of its modules allow, with
// its default when it asks for nothing; where none fits, the error lists
// what the bot has. Each plan records the version that made it.
func TestStagesPickTheirTerraform(t *testing.T) {
	older, newer := testTerraforms(t)
	r := versionsRunner(t, older, newer, older)
	if got := r.installed(); !slices.Equal(got, []string{older.version.String(), newer.version.String()}) {
		t.Fatalf("installed = %v", got)
	}
	oldC, newC := "~> "+minor(older)+".0", ">= "+minor(newer)
	root := t.TempDir()
	stage(t, root, "mod-newer", map[string]string{"main.tf": requires(newC)})
	tests := []struct {
		name, version string // terraform_version
		files         map[string]string
		want          *engine
		err           []string
	}{
		{name: "required_version picks the older", files: map[string]string{"main.tf": requires(oldC) + someResource}, want: older},
		{name: "required_version picks the newer", files: map[string]string{"main.tf": requires(newC) + someResource}, want: newer},
		{name: "the newest that meets it", files: map[string]string{"main.tf": requires(">= 1.0") + someResource}, want: newer},
		{name: "a module's required_version counts", files: map[string]string{"main.tf": "module \"m\" {\n  source = \"../mod-newer\"\n}\n" + someResource}, want: newer},
		{name: "nothing asked: the default", files: map[string]string{"main.tf": someResource}, want: older},
		{name: "terraform_version", version: newer.version.String(), files: map[string]string{"main.tf": someResource}, want: newer},
		{name: "none meets required_version", files: map[string]string{"main.tf": requires("> "+newer.version.String()) + someResource},
			err: []string{"needs Terraform > " + newer.version.String() + " (its required_version), and the bot has Terraform " + older.version.String() + ", " + newer.version.String(), "STAGEBOT_TERRAFORM_VERSIONS_DIR", "change required_version"}},
		{name: "none meets terraform_version", version: "< " + older.version.String(), files: map[string]string{"main.tf": someResource},
			err: []string{"needs Terraform < " + older.version.String() + " (its terraform_version in stagebot.yaml), and the bot has", "change terraform_version"}},
		{name: "each is met, not both", version: older.version.String(), files: map[string]string{"main.tf": requires(newC) + someResource},
			err: []string{"needs Terraform " + older.version.String() + " (its terraform_version in stagebot.yaml) and " + newC + " (its required_version), and no Terraform the bot has (" + older.version.String() + ", " + newer.version.String() + ") satisfies all of them"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			run := stage(t, root, fmt.Sprintf("s%d", i), tt.files)
			run.PR, run.TerraformVersion = i, tt.version
			engine := r.EngineOf(run)
			res, err := r.Plan(context.Background(), run)
			if tt.err != nil {
				var ve *VersionError
				if !errors.As(err, &ve) {
					t.Fatalf("plan: %v, want a VersionError", err)
				}
				for _, w := range tt.err {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%q lacks %q", err, w)
					}
				}
				if engine != "" {
					t.Errorf("EngineOf = %q for a stage no Terraform fits", engine)
				}
				return
			}
			if err != nil {
				t.Fatalf("plan: %v", logOf(err))
			}
			if res.JSON.TerraformVersion != tt.want.version.String() {
				t.Errorf("planned by Terraform %s, want %s", res.JSON.TerraformVersion, tt.want.version)
			}
			if engine != "Terraform "+tt.want.version.String() {
				t.Errorf("EngineOf = %q, want Terraform %s", engine, tt.want.version)
			}
			made, _, err := r.files.PlanFileEngine(context.Background(), planKeyOf(res.Meta))
			if err != nil || made != "terraform@"+tt.want.version.String() {
				t.Errorf("the plan records %q (%v), want terraform@%s", made, err, tt.want.version)
			}
		})
	}
}

// An apply runs the Terraform that made the plan, whatever the stage
// would get now; when the bot no longer has it, or the stage's
// terraform_version changed, the plan is stale.
func TestApplyWithThePlanningTerraform(t *testing.T) {
	older, newer := testTerraforms(t)
	r := versionsRunner(t, newer, older)
	state := t.TempDir()
	plan := func(t *testing.T, name string) Run {
		t.Helper()
		run := stage(t, t.TempDir(), name, map[string]string{"main.tf": backend(state, name) + someResource})
		run.TerraformVersion = older.version.String()
		res, err := r.Plan(context.Background(), run)
		if err != nil {
			t.Fatalf("plan: %v", logOf(err))
		}
		if res.JSON.TerraformVersion != older.version.String() {
			t.Fatalf("terraform_version %s planned with Terraform %s", older.version, res.JSON.TerraformVersion)
		}
		if err := r.MarkPosted(context.Background(), res.Meta); err != nil {
			t.Fatal(err)
		}
		return run
	}

	t.Run("applied by the planning version", func(t *testing.T) {
		run := plan(t, "applied")
		run.TerraformVersion = "" // the stage would get the default now
		if r.EngineOf(run) != newer.String() {
			t.Fatalf("EngineOf = %q, want %s", r.EngineOf(run), newer)
		}
		if _, err := r.Apply(context.Background(), run); err != nil {
			t.Fatalf("apply: %v", logOf(err))
		}
		if got := stateVersion(t, filepath.Join(state, "applied.tfstate")); got != older.version.String() {
			t.Errorf("the state was written by Terraform %s, want %s (the plan's)", got, older.version)
		}
	})
	t.Run("the version is gone", func(t *testing.T) {
		run := plan(t, "gone")
		// The bot restarts without the versions dir.
		again, err := New(context.Background(), Config{TerraformBin: newer.bin, DataDir: r.dataDir, Plans: r.plans, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		_, err = again.Apply(context.Background(), run)
		want := "stage gone was planned with Terraform " + older.version.String() + ", and this bot no longer has it (it has " + newer.version.String()
		if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), want) {
			t.Errorf("apply: %v, want a stale plan: %s", err, want)
		}
		if _, err := os.Stat(filepath.Join(state, "gone.tfstate")); err == nil {
			t.Error("the stage was applied")
		}
	})
	t.Run("terraform_version changed", func(t *testing.T) {
		run := plan(t, "changed")
		run.TerraformVersion = newer.version.String()
		_, err := r.CheckPlan(context.Background(), run)
		if !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "its terraform_version is now "+newer.version.String()) {
			t.Errorf("check: %v", err)
		}
	})
}

// stateVersion is the Terraform version that wrote a state file.
func stateVersion(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), `"terraform_version": "`)
	v, _, _ := strings.Cut(rest, `"`)
	return v
}

// In the uid sandbox, a run's user runs the version chosen for it from
// the versions dir (the file itself, wherever the dir links to).
func TestSandboxRunsAVersionOfTheDir(t *testing.T) {
	_, newer := testTerraforms(t)
	dir := t.TempDir()
	link(t, newer.bin, filepath.Join(dir, newer.version.String(), "terraform"))
	r := isolatedRunner(t, Config{TerraformVersionsDir: dir})
	if r.terraform.version.Equal(newer.version) {
		t.Skipf("the default Terraform is %s already", newer.version)
	}
	run := stage(t, r.WorkspaceDir("acme/platform", 1, "sha1"), "s", map[string]string{"main.tf": requires(">= "+minor(newer)) + someResource})
	res, err := r.Plan(context.Background(), run)
	if err != nil {
		t.Fatalf("plan: %v", logOf(err))
	}
	if res.JSON.TerraformVersion != newer.version.String() {
		t.Errorf("planned by Terraform %s, want %s (not the default %s)", res.JSON.TerraformVersion, newer.version, r.terraform.version)
	}
}
