package runner

// Attacks on the runner as a pull request's Terraform would make them: code
// that runs as the slot's uid with the stage directory writable (a data
// "external", a provider binary in terraform.d/plugins). The tests play
// that code with a shell started in a lease of the runner's own sandbox,
// exactly where and as whom Terraform would run it. Each test asserts the
// secure behaviour and fails while the hole is open.

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/sandbox"
	"github.com/stagebot/stagebot/internal/sandbox/sandboxtest"
)

// zzRunner is an isolated runner on uids of these tests' own.
func zzRunner(t *testing.T, uids string) *Runner {
	t.Helper()
	data := sandboxtest.ReachableDir(t)
	sb, err := sandbox.New(sandbox.Config{Mode: sandbox.ModeUID, UIDs: uids, GID: testSandboxGID, StateDir: filepath.Join(data, "sandbox")})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: data, Sandbox: sb, Timeout: 2 * time.Minute, GracePeriod: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// asTheRun runs script as the PR's code would run during a session of run:
// in a lease of the runner's sandbox, with the stage dir writable, in it.
func asTheRun(t *testing.T, r *Runner, run Run, script string) {
	t.Helper()
	l, err := r.sandbox.Acquire(context.Background(), sandbox.Spec{Root: run.root(), WriteDir: run.Dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	bin, extra, err := l.Command("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", script)
	cmd.Dir = run.Dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + l.Home, "TMPDIR=" + l.Tmp}
	for k, v := range extra {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the run's code: %v\n%s", err, out)
	}
}

// TestAttackTrustedRunPromotesProvidersAnUntrustedRunPlanted: "only the
// providers of reviewed content (a merge, a drift check) are copied into
// the cache". promoteProviders copies every <host>/<ns>/<type>/<version>/
// <platform> directory it finds under the stage's .terraform/providers
// that the cache lacks: not what the trusted run's init installed, but
// whatever the checkout holds. And the checkout is reused: Checkout
// returns at once when .stagebot-checkout exists, and a merge runs in
// WorkspaceDir(repo, PR, merge SHA). When the merge commit is the PR's
// head (a fast-forward of a one-commit PR pushed to the default branch,
// which mergeBase accepts as it accepts a squash: one parent, the PR's
// base, same tree), the trusted merge runs in the very checkout whose
// stage dir the PR's untrusted plans owned and wrote. The attack: the
// PR's plan-time code drops a trojan hashicorp/aws 5.99.0 into
// .terraform/providers (nothing in git, so no "provider code" finding);
// the merge promotes it; every later run of every repository reads the
// cache as a filesystem mirror, before the registry, and a stage without
// that provider in its lock file (a new provider, an upgrade, a repo that
// does not commit its lock file; drift checks and merges with apply
// credentials included) executes it.
func TestAttackTrustedRunPromotesProvidersAnUntrustedRunPlanted(t *testing.T) {
	r := zzRunner(t, "40930-40931")
	state := sandboxtest.SharedDir(t, testSandboxGID)
	root := r.WorkspaceDir("acme/platform", 7, "headsha7")
	if err := r.mkdirs(filepath.Dir(root)); err != nil {
		t.Fatal(err)
	}
	run := stage(t, root, "s", map[string]string{"main.tf": backend(state, "zz-promote") + "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"})
	run.PR, run.HeadSHA = 7, "headsha7"

	// The PR's untrusted plan: its code plants a provider.
	if _, err := r.Plan(context.Background(), run); err != nil {
		t.Fatal(logOf(err))
	}
	planted := filepath.Join("registry.terraform.io", "hashicorp", "aws", "5.99.0", "linux_amd64")
	asTheRun(t, r, run, `set -e
d=.terraform/providers/`+planted+`
mkdir -p "$d"
printf '#!/bin/sh\necho pwned > /tmp/stagebot-zz-pwned\n' > "$d/terraform-provider-aws_v5.99.0_x5"
chmod 755 "$d/terraform-provider-aws_v5.99.0_x5"
`)
	if _, err := os.Stat(filepath.Join(r.cacheDir, planted)); err == nil {
		t.Fatal("the untrusted run wrote into the cache directly")
	}

	// The merge of that same commit, trusted, in the same checkout: refused
	// (the workflow checks a merge out afresh).
	merge := run
	merge.Trusted = true
	if _, err := r.Plan(context.Background(), merge); err == nil || !strings.Contains(err.Error(), "refuses a checkout that a pull request's run used") {
		t.Errorf("HOLE: a trusted run used a checkout an untrusted run wrote: %v", err)
	}
	// Even were it not: only providers of the lock file are promoted.
	r.promoteProviders(run.Dir)
	if _, err := os.Stat(filepath.Join(r.cacheDir, planted, "terraform-provider-aws_v5.99.0_x5")); err == nil {
		t.Errorf("HOLE: the trusted run promoted %s into the shared plugin cache, a provider its init never installed, planted by the PR's untrusted run in the checkout they share", planted)
	}
}

// TestAttackTrustedRunCopiesRootFilesIntoTheCache: the same promotion, with
// a symlink instead of a provider. promoteProviders globs
// .terraform/providers/*/*/*/*/* and refuses only a last component that
// is not a directory; filepath.Glob follows symlinks in the components
// before it, and copyProvider then copies, as root, every regular file
// under the directory found into the cache, mode 0644, where every later
// run reads it (the cache is their filesystem mirror). The attack, in the
// checkout a trusted run will reuse (see above): the PR's untrusted code
// makes .terraform/providers/x/y/z a symlink to a directory two levels
// above something root keeps (here the data dir: its own secrets under
// <data>/zz-secret/key; in production the App key's directory, other
// PRs' checkouts and saved plans, the logs); the merge copies it into the
// cache; the PR's next plan reads it from there with file().
func TestAttackTrustedRunCopiesRootFilesIntoTheCache(t *testing.T) {
	r := zzRunner(t, "40934-40935")
	secretDir := filepath.Join(r.dataDir, "zz-secret", "key")
	os.MkdirAll(secretDir, 0o700)
	os.Chmod(filepath.Dir(secretDir), 0o700)
	os.WriteFile(filepath.Join(secretDir, "app.pem"), []byte("-----BEGIN RSA PRIVATE KEY----- bot-app-key"), 0o600)
	state := sandboxtest.SharedDir(t, testSandboxGID)
	root := r.WorkspaceDir("acme/platform", 9, "headsha9")
	if err := r.mkdirs(filepath.Dir(root)); err != nil {
		t.Fatal(err)
	}
	run := stage(t, root, "s", map[string]string{"main.tf": backend(state, "zz-symlink") + "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"})
	run.PR, run.HeadSHA = 9, "headsha9"
	if _, err := r.Plan(context.Background(), run); err != nil {
		t.Fatal(logOf(err))
	}
	asTheRun(t, r, run, "set -e\nmkdir -p .terraform/providers/x/y\nln -s "+r.dataDir+" .terraform/providers/x/y/z\nprintf 'provider \"x/y/z\" {\\n}\\n' >> .terraform.lock.hcl\n")
	merge := run
	merge.Trusted = true
	if _, err := r.Plan(context.Background(), merge); err == nil {
		t.Error("HOLE: a trusted run used a checkout an untrusted run wrote")
	}
	// Even were it not: a link anywhere on the way is not followed.
	r.promoteProviders(run.Dir)
	copied := filepath.Join(r.cacheDir, "x", "y", "z", "zz-secret", "key", "app.pem")
	if b, err := os.ReadFile(copied); err == nil {
		st, _ := os.Stat(copied)
		t.Errorf("HOLE: the trusted run copied the bot's root-only %s into the shared plugin cache as %s (mode %v), readable by every later run: %q", filepath.Join(secretDir, "app.pem"), copied, st.Mode(), b)
	}
}

// TestAttackFifoInTheStageDirHangsTheBot: the run owns its stage dir and may
// make any kind of file there. When the run ends the checkout is made
// root's again (reclaimCheckout), but a FIFO stays a FIFO. Later, the bot
// itself, as root and outside any sandbox, parses the stage's *.tf files:
// stages.Detect (every event of the PR at that head), checkRequiredVersion
// (first thing in Plan), declares. open(2) of a FIFO for reading blocks
// until a writer comes, and no context cancels it: the job's goroutine
// hangs for good, its River worker slot with it, the rescuer runs the job
// again (and it hangs again). A PR that leaves "zz.tf" as a FIFO takes one
// worker per event; a few events take them all, for every repository.
func TestAttackFifoInTheStageDirHangsTheBot(t *testing.T) {
	r := zzRunner(t, "40932-40933")
	state := sandboxtest.SharedDir(t, testSandboxGID)
	root := r.WorkspaceDir("acme/platform", 8, "headsha8")
	if err := r.mkdirs(filepath.Dir(root)); err != nil {
		t.Fatal(err)
	}
	run := stage(t, root, "s", map[string]string{"main.tf": backend(state, "zz-fifo") + "resource \"terraform_data\" \"x\" {\n  input = 1\n}\n"})
	run.PR, run.HeadSHA = 8, "headsha8"
	asTheRun(t, r, run, "mkfifo zz.tf")

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	done := make(chan error, 1)
	go func() { _, err := r.Plan(ctx, run); done <- err }()
	select {
	case <-done:
		return
	case <-time.After(15 * time.Second):
	}
	// Nothing of the sandbox runs: it is the bot itself that waits.
	var running []string
	for _, uid := range []string{"40932", "40933"} {
		if out, _ := exec.Command("pgrep", "-u", uid).Output(); len(strings.TrimSpace(string(out))) > 0 {
			running = append(running, uid)
		}
	}
	t.Errorf("HOLE: the next plan of the stage has not returned after 15s, and no Terraform runs for it (slot uids running: %v): the bot (root) blocks opening the FIFO the PR's run left in its stage dir, and no context ends that", running)
	// Unblock the bot's reader so that the test can end: a writer opens
	// and closes the FIFO, which is removed first so Terraform does not
	// block on it next.
	fifo := filepath.Join(run.Dir, "zz.tf")
	if f, err := os.OpenFile(fifo, os.O_WRONLY, 0); err == nil {
		os.Remove(fifo)
		f.Close()
	}
	cancel()
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "cancel") {
			t.Logf("plan after unblocking: %v", err)
		}
	case <-time.After(time.Minute):
		t.Log("the plan still hangs after unblocking")
	}
}

// TestAttackRunCannotSwapACachedProvider: the provider cache is the bot's
// and read-only to runs. A run's code tries to overwrite a cached
// provider binary, to replace its directory, and to add a provider of its
// own: each fails, and the cached binary is the bot's as before.
func TestAttackRunCannotSwapACachedProvider(t *testing.T) {
	r := zzRunner(t, "40936-40936")
	cached := filepath.Join(r.cacheDir, "registry.terraform.io", "hashicorp", "null", "3.2.3", "linux_amd64")
	if err := os.MkdirAll(cached, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(cached, "terraform-provider-null_v3.2.3_x5")
	os.WriteFile(bin, []byte("the real provider"), 0o755)
	if err := r.sealPluginCache(); err != nil {
		t.Fatal(err)
	}
	state := sandboxtest.SharedDir(t, testSandboxGID)
	root := r.WorkspaceDir("acme/platform", 11, "headsha11")
	if err := r.mkdirs(filepath.Dir(root)); err != nil {
		t.Fatal(err)
	}
	run := stage(t, root, "s", map[string]string{"main.tf": backend(state, "zz-swap")})
	run.PR, run.HeadSHA = 11, "headsha11"
	parent := filepath.Dir(cached)
	asTheRun(t, r, run, `
echo evil > '`+bin+`' 2>/dev/null && echo SWAPPED-FILE
mv '`+cached+`' '`+cached+`.old' 2>/dev/null && echo MOVED-DIR
mkdir '`+filepath.Join(parent, "linux_arm64")+`' 2>/dev/null && echo ADDED-DIR
mkdir -p '`+filepath.Join(r.cacheDir, "example.com", "evil")+`' 2>/dev/null && echo ADDED-PROVIDER
true`)
	if b, err := os.ReadFile(bin); err != nil || string(b) != "the real provider" {
		t.Errorf("the cached provider changed: %q %v", b, err)
	}
	for _, p := range []string{cached + ".old", filepath.Join(parent, "linux_arm64"), filepath.Join(r.cacheDir, "example.com")} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("the run changed the cache: %s exists", p)
		}
	}
}
