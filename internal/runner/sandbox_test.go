package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/sandbox"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

const testSandboxGID = 40199

// isolatedRunner is a runner whose Terraform runs in the uid sandbox, with
// its data dir where the sandbox's users can reach it.
func isolatedRunner(t testing.TB, cfg Config) *Runner {
	t.Helper()
	data := sandboxtest.ReachableDir(t)
	sb, err := sandbox.New(sandbox.Config{Mode: sandbox.ModeUID, UIDs: "40200-40203", GID: testSandboxGID, StateDir: filepath.Join(data, "sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	cfg.TerraformBin, cfg.DataDir, cfg.Sandbox = terraformBin(), data, sb
	cfg.Timeout, cfg.GracePeriod = 5*time.Minute, 10*time.Second
	r, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// probe is an output that reads a file from inside the run, or says it
// could not.
func probe(name, path string) string {
	return fmt.Sprintf("output %q {\n  value = try(file(%q), \"DENIED\")\n}\n", name, path)
}

// TestSandboxKeepsTheBotsSecrets plans a stage whose Terraform tries to read
// the bot's secrets, and asserts from inside the run that it could not: the
// bot's environment, a file of its data dir, another PR's checkout and
// saved plan. It runs as a uid of its own, gets the plan credentials and
// never the apply ones, and can write only its stage dir.
func TestSandboxKeepsTheBotsSecrets(t *testing.T) {
	t.Setenv("STAGEBOT_GITHUB_WEBHOOK_SECRET", "bot-env-secret-1")
	r := isolatedRunner(t, Config{
		PlanEnv:  map[string]string{"IONOS_TOKEN": "plan-read-only-token"},
		ApplyEnv: map[string]string{"IONOS_TOKEN": "apply-read-write-token"},
	})
	key := filepath.Join(r.dataDir, "app.pem")
	os.WriteFile(key, []byte("bot-key-secret-2"), 0o600)
	state := sandboxtest.SharedDir(t, testSandboxGID)

	// Another PR, planned first: its checkout and its kept plan.
	other := stage(t, r.WorkspaceDir("acme/platform", 2, "sha2"), "s", map[string]string{
		"main.tf": backend(state, "other") + "resource \"terraform_data\" \"x\" {\n  input = \"other-pr-secret-3\"\n}\n",
		"notes":   "other-pr-secret-3",
	})
	other.PR, other.HeadSHA = 2, "sha2"
	if err := r.mkdirs(filepath.Dir(other.Root)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Plan(context.Background(), other); err != nil {
		t.Fatal(logOf(err))
	}

	root := r.WorkspaceDir("acme/platform", 1, "sha1")
	if err := r.mkdirs(filepath.Dir(root)); err != nil {
		t.Fatal(err)
	}
	// Which uid the run is, read stably (Terraform 1.12 and later refuse a
	// file() whose content changes between walks, as /proc/self/status
	// does): one file per pool uid, readable by that uid alone. Root would
	// read them all.
	uids := t.TempDir()
	for _, d := range []string{filepath.Dir(uids), uids} {
		os.Chmod(d, 0o711)
	}
	var readUID strings.Builder
	for uid := 40200; uid <= 40203; uid++ {
		f := filepath.Join(uids, fmt.Sprint(uid))
		os.WriteFile(f, []byte(fmt.Sprintf("Uid:\t%d\n", uid)), 0o400)
		os.Chown(f, uid, uid)
		fmt.Fprintf(&readUID, "try(file(%q), \"\"), ", f)
	}
	hostile := backend(state, "hostile") + `
output "environ" {
  value     = file("/proc/self/environ")
  sensitive = true
}
output "status" {
  value = join("", [` + readUID.String() + `])
}
output "own" {
  value = file("${path.module}/own.txt")
}
output "ppid_environ" {
  value = try(file("/proc/1/environ"), "DENIED")
}
resource "terraform_data" "write" {
  input = "x"
}
` + probe("bot_environ", fmt.Sprintf("/proc/%d/environ", os.Getpid())) +
		probe("key", key) +
		probe("other_checkout", filepath.Join(other.Dir, "notes")) +
		probe("other_plan", r.planPath("acme/platform", 2, "s")) +
		probe("cli_config", r.cliConfig)
	run := stage(t, root, "s", map[string]string{"main.tf": hostile, "own.txt": "own-file"})
	run.HeadSHA = "sha1"
	res, err := r.Plan(context.Background(), run)
	if err != nil {
		t.Fatal(logOf(err))
	}
	got := map[string]string{}
	for name, oc := range res.JSON.OutputChanges {
		b, _ := json.Marshal(oc.After)
		var s string
		json.Unmarshal(b, &s)
		got[name] = s
	}
	for _, name := range []string{"ppid_environ", "bot_environ", "key", "other_checkout", "other_plan"} {
		if got[name] != "DENIED" {
			t.Errorf("the run read %s: %q", name, got[name])
		}
	}
	if strings.Count(got["status"], "Uid:") != 1 {
		t.Errorf("the run is not one sandbox uid (it read %q of the pool's uid files)", got["status"])
	}
	if got["own"] != "own-file" || !strings.Contains(got["cli_config"], "plugin_cache_dir") {
		t.Errorf("the run cannot read its own stage or the CLI config: own %q, cli config %q", got["own"], got["cli_config"])
	}
	if !strings.Contains(got["environ"], "IONOS_TOKEN=plan-read-only-token") {
		t.Errorf("the plan's environment lacks the plan credential:\n%q", got["environ"])
	}
	js, _ := json.Marshal(res.JSON)
	if strings.Contains(string(js)+res.Text+res.Log, "apply-read-write-token") {
		t.Error("an apply credential reached the plan")
	}
	// The checkout is the bot's again, and 0700: nothing of the run left.
	if st, err := os.Stat(root); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("checkout after the run: %v %v", st.Mode(), err)
	}
}

// TestMain lets the test binary be the sandbox's launcher, as the bot's
// binary is.
func TestMain(m *testing.M) {
	sandbox.MaybeLaunch()
	os.Exit(m.Run())
}
