// Package runner runs Terraform for the bot through terraform-exec: a
// workspace per (repository, PR, head SHA), init with one shared plugin
// cache, plan to a saved file, and apply of exactly that file.
package runner

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-exec/tfexec"
)

// Config configures New.
type Config struct {
	// TerraformBin is the binary's name on PATH or its path.
	TerraformBin string
	// DataDir holds workspaces, plan files, logs and the plugin cache.
	DataDir string
	// Env is what Terraform gets of credentials: provider and backend
	// variables allowlisted in the bot's settings, with their values.
	// Nothing else of the bot's environment reaches Terraform.
	Env map[string]string
	// Timeout bounds one plan or apply of one stage (init included).
	Timeout time.Duration
	// GracePeriod is how long Terraform may take to stop after an
	// interrupt (so it can release its state lock) before it is killed.
	GracePeriod time.Duration
}

// Runner runs Terraform.
type Runner struct {
	bin       string
	dataDir   string
	cacheDir  string
	cliConfig string
	home      string
	env       map[string]string
	timeout   time.Duration
	grace     time.Duration
	version   *version.Version
}

// New prepares the data dir (plugin cache, Terraform's CLI config) and
// checks that the Terraform binary exists and says its version.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	bin, err := findTerraform(cfg.TerraformBin)
	if err != nil {
		return nil, err
	}
	v, err := TerraformVersion(ctx, bin)
	if err != nil {
		return nil, fmt.Errorf("terraform binary %s: %w", bin, err)
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		bin:       bin,
		dataDir:   data,
		cacheDir:  filepath.Join(data, "terraform", "plugin-cache"),
		cliConfig: filepath.Join(data, "terraform", "terraformrc"),
		home:      filepath.Join(data, "terraform", "home"),
		env:       cfg.Env,
		timeout:   cfg.Timeout,
		grace:     cfg.GracePeriod,
		version:   v,
	}
	if r.timeout == 0 {
		r.timeout = time.Hour
	}
	if r.grace == 0 {
		r.grace = time.Minute
	}
	for _, d := range []string{r.cacheDir, r.home, filepath.Join(data, "workspaces"), filepath.Join(data, "logs")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("prepare runner data dir: %w", err)
		}
	}
	// The bot's own CLI config: whatever the host's TF_CLI_CONFIG_FILE or
	// ~/.terraformrc says does not apply to the bot's runs.
	rc := fmt.Sprintf("plugin_cache_dir = %q\ndisable_checkpoint = true\n", r.cacheDir)
	if err := os.WriteFile(r.cliConfig, []byte(rc), 0o600); err != nil {
		return nil, fmt.Errorf("write Terraform CLI config: %w", err)
	}
	return r, nil
}

func findTerraform(bin string) (string, error) {
	if bin == "" {
		bin = "terraform"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("terraform binary %q not found: install Terraform >= 1.10 or set STAGEBOT_TERRAFORM_BIN", bin)
	}
	return path, nil
}

// Version is the version of the Terraform the runner runs.
func (r *Runner) Version() *version.Version { return r.version }

// Env returns the complete environment of Terraform runs: the bot's own CLI
// config and plugin cache, no prompts, and the allowlisted credentials.
func (r *Runner) Env() map[string]string {
	env := map[string]string{
		"PATH":                os.Getenv("PATH"),
		"HOME":                r.home,
		"TF_CLI_CONFIG_FILE":  r.cliConfig,
		"TF_PLUGIN_CACHE_DIR": r.cacheDir,
		"CHECKPOINT_DISABLE":  "1",
	}
	for k, v := range r.env {
		env[k] = v
	}
	return env
}

// terraform returns a terraform-exec handle on dir whose output streams to
// out (nil: discarded).
func (r *Runner) terraform(ctx context.Context, dir string, out io.Writer) (*tfexec.Terraform, error) {
	tf, err := tfexec.NewTerraform(dir, r.bin)
	if err != nil {
		return nil, fmt.Errorf("terraform in %s: %w", dir, err)
	}
	if err := tf.SetEnv(r.Env()); err != nil {
		return nil, err
	}
	if err := tf.SetWaitDelay(r.grace); err != nil {
		return nil, err
	}
	// terraform-exec checks the version once per handle; doing it before
	// the output is attached keeps its JSON out of the run's log.
	if _, _, err := tf.Version(ctx, false); err != nil {
		return nil, fmt.Errorf("terraform version: %w", err)
	}
	if out != nil {
		tf.SetStdout(out)
		tf.SetStderr(out)
	}
	return tf, nil
}

// logged is a Terraform handle on a run's stage dir whose output streams to
// the run's log file as it goes and is kept for the comment.
type logged struct {
	tf   *tfexec.Terraform
	out  bytes.Buffer
	file *os.File
}

func (l *logged) Close() { l.file.Close() }

// start opens the log of one operation (plan, apply, init) of run and a
// Terraform handle writing to it.
func (r *Runner) start(ctx context.Context, run Run, op string) (*logged, error) {
	f, err := r.openLog(run.Repo, run.PR, run.Stage, run.HeadSHA, op)
	if err != nil {
		return nil, fmt.Errorf("%s stage %s: %w", op, run.Stage, err)
	}
	l := &logged{file: f}
	if l.tf, err = r.terraform(ctx, run.Dir, io.MultiWriter(f, &l.out)); err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// lockPluginCache serialises terraform init across every run sharing the
// cache, in this process and in other bots on the same volume: Terraform
// writes providers into the cache without locking ("text file busy").
func (r *Runner) lockPluginCache(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(r.cacheDir, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock plugin cache: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock plugin cache: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func safe(s string) string { return unsafeChars.ReplaceAllString(s, "_") }

// WorkspaceDir is where the checkout of repo at sha for PR number pr lives.
func (r *Runner) WorkspaceDir(repo string, pr int, sha string) string {
	return filepath.Join(r.dataDir, "workspaces", safe(strings.ReplaceAll(repo, "/", "__")), fmt.Sprintf("pr-%d", pr), safe(sha))
}

// RemovePR deletes every workspace, plan file and log of a PR (it closed).
func (r *Runner) RemovePR(repo string, pr int) error {
	key := safe(strings.ReplaceAll(repo, "/", "__"))
	for _, d := range []string{
		filepath.Join(r.dataDir, "workspaces", key, fmt.Sprintf("pr-%d", pr)),
		filepath.Join(r.dataDir, "logs", key, fmt.Sprintf("pr-%d", pr)),
	} {
		if err := os.RemoveAll(d); err != nil {
			return fmt.Errorf("remove %s: %w", d, err)
		}
	}
	return nil
}

// openLog creates the log file of one run; its output streams there as it
// goes, so a long apply can be followed and a crash leaves the record.
func (r *Runner) openLog(repo string, pr int, stage, sha, op string) (*os.File, error) {
	dir := filepath.Join(r.dataDir, "logs", safe(strings.ReplaceAll(repo, "/", "__")), fmt.Sprintf("pr-%d", pr))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	name := fmt.Sprintf("%s-%s-%s-%s.log", safe(stage), safe(shortSHA(sha)), op, time.Now().UTC().Format("20060102T150405.000"))
	return os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
}

func shortSHA(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
