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
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-exec/tfexec"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/sandbox"
	"github.com/stagebot/stagebot/internal/seal"
)

// Config configures New.
type Config struct {
	// Registerer takes the runs' metrics (nil: none).
	Registerer prometheus.Registerer
	// TerraformBin is the binary's name on PATH or its path: the
	// Terraform of stages that ask for no version.
	TerraformBin string
	// TerraformVersionsDir holds more Terraform binaries, as
	// DIR/VERSION/terraform (or DIR/terraform_VERSION): a stage runs with
	// the newest of these and TerraformBin that its terraform_version and
	// required_version allow. Empty: TerraformBin only.
	TerraformVersionsDir string
	// TerraformInstall are versions (exact: 1.11.4) New installs into
	// TerraformVersionsDir, which they need, when missing, from
	// TerraformReleases, before it scans the dir.
	TerraformInstall  []*version.Version
	TerraformReleases ReleaseSource
	// TofuBin is OpenTofu's, for stages with terraform_bin: tofu; empty
	// means tofu on PATH, when there is one.
	TofuBin string
	// DataDir holds workspaces, plan files, logs and the plugin cache.
	DataDir string
	// Env is what every Terraform run gets besides the bot's own settings:
	// provider and backend settings that are no secret, or that plans and
	// applies share. Nothing else of the bot's environment reaches it.
	Env map[string]string
	// PlanEnv are the credentials of plans (and of reading outputs):
	// read-only ones. ApplyEnv are those of applies. A plan never gets an
	// ApplyEnv value.
	PlanEnv, ApplyEnv map[string]string
	// Stages overrides PlanEnv and ApplyEnv, variable by variable, for
	// the stages it names.
	Stages map[string]Credentials
	// Plans records saved plans (nil: in memory, for bot plan).
	Plans PlanStore
	// Files keeps the plan files (nil: on disk, under the data dir).
	Files PlanFiles
	// Runs records the plans and applies with their logs (nil: none).
	Runs RunLog
	// PlanKeys seal plan files at rest (nil: kept as Terraform wrote them).
	PlanKeys *seal.Keyring
	// Sandbox runs Terraform away from the bot's secrets (nil: as the
	// bot's own user).
	Sandbox *sandbox.Sandbox
	// Egress is the allowlist of hosts every sandboxed run may reach (see
	// sandbox.ParseEgress); a stage's Run.Egress adds to it.
	Egress []string
	// Secrets are redacted from the logs as Terraform writes them.
	Secrets *redact.Set
	// MaxCheckoutBytes bounds what one checkout may extract (default 1 GiB).
	MaxCheckoutBytes int64
	// Timeout bounds one plan or apply of one stage (init included).
	Timeout time.Duration
	// GracePeriod is how long Terraform may take to stop after an
	// interrupt (so it can release its state lock) before it is killed.
	GracePeriod time.Duration
	// PlanRetries is how often a plan that failed on a held state lock or
	// a failing state backend is tried again (default 3; -1: never), the
	// first after PlanRetryWait (default 10 s), each after twice as long.
	PlanRetries   int
	PlanRetryWait time.Duration
	// StateDir keeps the state of stages with a local backend, outside
	// every checkout: a backend_config value names it as StateDirVar, and
	// a stage that declares the variable state_dir gets it (for its
	// terraform_remote_state). Each repository has a directory of its own
	// in it, so that one repository's stagebot.yaml cannot reach another's
	// state, unless SharedState (bot plan and bot apply: one user's own
	// checkout). Empty: a stage that names it fails. Only unisolated: runs
	// of different uids cannot share one state file.
	StateDir    string
	SharedState bool
}

// StateDirVar is what a backend_config value names to keep its state in
// the runner's StateDir (the quickstart's local backends).
const StateDirVar = "${state_dir}"

// stateDirOf is the directory of run's repository's state ("" when the
// runner keeps none), made when it is first used.
func (r *Runner) stateDirOf(run Run) (string, error) {
	if r.stateDir == "" {
		return "", nil
	}
	dir := r.stateDir
	if !r.sharedState {
		dir = RepoStateDir(dir, run.Repo)
	}
	return dir, os.MkdirAll(dir, 0o700)
}

// RepoStateDir is where a runner that does not share its state dir keeps
// the state of repository repo (owner/name).
func RepoStateDir(stateDir, repo string) string { return filepath.Join(stateDir, safe(repo)) }

// backendValue is a backend_config value with StateDirVar filled in: it
// must begin the value, and the path must stay inside the state dir.
func (r *Runner) backendValue(run Run, key, v string) (string, error) {
	if !strings.Contains(v, StateDirVar) {
		return v, nil
	}
	dir, err := r.stateDirOf(run)
	if err != nil {
		return "", err
	}
	if dir == "" {
		return "", fmt.Errorf("backend_config %s names %s, the directory of local state that bot plan, bot apply and bot demo keep (the server: STAGEBOT_STATE_DIR); a stage served by the bot keeps its state in a remote backend", key, StateDirVar)
	}
	rest, ok := strings.CutPrefix(v, StateDirVar+"/")
	full := filepath.Join(dir, filepath.FromSlash(rest))
	if !ok || strings.Contains(rest, StateDirVar) || !strings.HasPrefix(full, dir+string(filepath.Separator)) {
		return "", fmt.Errorf("backend_config %s: %s may only begin a path inside it (%s/NAME.tfstate)", key, StateDirVar, StateDirVar)
	}
	return full, nil
}

// Credentials are one stage's plan and apply variables.
type Credentials struct{ Plan, Apply map[string]string }

// Runner runs Terraform.
type Runner struct {
	metrics     *runMetrics
	files       PlanFiles
	keys        *seal.Keyring
	terraform   *engine   // the default
	terraforms  []*engine // every Terraform, newest first, the default among them
	versionsDir string    // where the others are
	tofu        *engine
	dataDir     string
	cacheDir    string
	cliConfig   string
	baseEnv     map[string]string
	planEnv     map[string]string
	applyEnv    map[string]string
	stages      map[string]Credentials
	plans       PlanStore
	runs        RunLog
	sandbox     *sandbox.Sandbox
	egress      []string
	secrets     *redact.Set
	maxCheckout int64
	timeout     time.Duration
	grace       time.Duration
	stateDir    string
	sharedState bool
	inits       sharedInits
	handles     handles

	planRetries   int
	planRetryWait time.Duration

	// stopping closes when the bot stops for good: running applies get
	// SIGINT, Terraform's own graceful stop. applies counts them.
	stopping chan struct{}
	stopOnce sync.Once
	applies  sync.WaitGroup
}

// New prepares the data dir (plugin cache, Terraform's CLI config) and
// checks that the Terraform binary exists and says its version. With an
// isolated sandbox, the data dir is laid out so that a run's user reaches
// its own checkout, the plugin cache and the CLI config, and nothing else.
func New(ctx context.Context, cfg Config) (*Runner, error) {
	terraform, err := findTerraform(ctx, cfg.TerraformBin)
	if err != nil {
		return nil, err
	}
	tofu, err := findTofu(ctx, cfg.TofuBin)
	if err != nil {
		return nil, err
	}
	if err := installConfigured(ctx, cfg); err != nil {
		return nil, err
	}
	var more []*engine
	if cfg.TerraformVersionsDir != "" {
		if more, err = scanVersions(ctx, cfg.TerraformVersionsDir); err != nil {
			return nil, err
		}
	}
	all, err := terraforms(terraform, more)
	if err != nil {
		return nil, err
	}
	data, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	metrics, err := newRunMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	r := &Runner{
		metrics:     metrics,
		terraform:   terraform,
		tofu:        tofu,
		terraforms:  all,
		versionsDir: cfg.TerraformVersionsDir,
		dataDir:     data,
		cacheDir:    filepath.Join(data, "terraform", "plugin-cache"),
		cliConfig:   filepath.Join(data, "terraform", "terraformrc"),
		baseEnv:     cfg.Env,
		planEnv:     cfg.PlanEnv,
		applyEnv:    cfg.ApplyEnv,
		stages:      cfg.Stages,
		plans:       cfg.Plans,
		runs:        cfg.Runs,
		files:       cfg.Files,
		keys:        cfg.PlanKeys,
		sandbox:     cfg.Sandbox,
		egress:      cfg.Egress,
		secrets:     cfg.Secrets,
		maxCheckout: cfg.MaxCheckoutBytes,
		timeout:     cfg.Timeout,
		grace:       cfg.GracePeriod,

		planRetries:   cfg.PlanRetries,
		planRetryWait: cfg.PlanRetryWait,
		stopping:      make(chan struct{}),
	}
	if r.plans == nil {
		r.plans = &MemoryPlans{}
	}
	if r.files == nil {
		r.files = diskPlans{dir: filepath.Join(data, "plans")}
	}
	if r.maxCheckout == 0 {
		r.maxCheckout = 1 << 30
	}
	if r.timeout == 0 {
		r.timeout = time.Hour
	}
	if r.grace == 0 {
		r.grace = time.Minute
	}
	if r.planRetries == 0 {
		r.planRetries = 3
	}
	if r.planRetryWait == 0 {
		r.planRetryWait = 10 * time.Second
	}
	if cfg.StateDir != "" {
		if r.sandbox.Isolated() {
			return nil, errors.New("a state dir for local backends needs an unisolated sandbox: the runs' uids cannot share its state files")
		}
		r.sharedState = cfg.SharedState
		if r.stateDir, err = filepath.Abs(cfg.StateDir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(r.stateDir, 0o700); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	if err := r.layout(); err != nil {
		return nil, fmt.Errorf("prepare runner data dir: %w", err)
	}
	// The bot's own CLI config: whatever the host's TF_CLI_CONFIG_FILE or
	// ~/.terraformrc says does not apply to the bot's runs.
	rc := fmt.Sprintf("plugin_cache_dir = %q\ndisable_checkpoint = true\n", r.cacheDir)
	if err := os.WriteFile(r.cliConfig, []byte(rc), 0o644); err != nil {
		return nil, fmt.Errorf("write Terraform CLI config: %w", err)
	}
	return r, os.Chmod(r.cliConfig, 0o644)
}

// layout makes the data dir's directories with the modes the sandbox needs:
// what a run's user must pass through is 0711 (enter, not list), the plugin
// cache is the bot's and only readable to runs, the rest is the bot's
// alone.
func (r *Runner) layout() error {
	dirs := []struct {
		path string
		mode os.FileMode
	}{
		{r.dataDir, 0o700}, {filepath.Join(r.dataDir, "terraform"), 0o700}, {filepath.Join(r.dataDir, "workspaces"), 0o700},
		{filepath.Join(r.dataDir, "logs"), 0o700}, {filepath.Join(r.dataDir, "plans"), 0o700}, {r.cacheDir, 0o700},
		{filepath.Join(r.dataDir, "terraform", "home"), 0o700},
	}
	isolated := r.sandbox.Isolated()
	for i, d := range dirs {
		if isolated && i < 3 {
			dirs[i].mode = 0o711
		}
		if err := os.MkdirAll(d.path, 0o700); err != nil {
			return err
		}
		if err := os.Chmod(d.path, dirs[i].mode); err != nil {
			return err
		}
	}
	if !isolated {
		return nil
	}
	if err := r.sealPluginCache(); err != nil {
		return err
	}
	// The runs' users must reach the data dir and the Terraform binaries.
	reach := []string{filepath.Dir(r.dataDir)}
	for _, e := range r.terraforms {
		reach = append(reach, e.bin)
	}
	if r.tofu != nil {
		reach = append(reach, r.tofu.bin)
	}
	for _, p := range reach {
		if err := sandbox.Reachable(p); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	return nil
}

// Interrupt stops running applies the way Terraform stops gracefully: each
// gets SIGINT, finishes what it is doing to a resource, writes its state,
// releases its lock and exits (killed only if it takes longer than the
// grace period). Applies cannot start after it. Call it when the bot stops
// and the applies' time is up; then Wait.
func (r *Runner) Interrupt() { r.stopOnce.Do(func() { close(r.stopping) }) }

// Wait waits until no apply runs, or ctx ends.
func (r *Runner) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { r.applies.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Isolated reports whether Terraform runs in the sandbox, as users of its
// own.
func (r *Runner) Isolated() bool { return r.sandbox.Isolated() }

// Version is the version of the runner's default Terraform.
func (r *Runner) Version() *version.Version { return r.terraform.version }

// Operations, for the credentials they get.
const (
	opPlan  = "plan"
	opApply = "apply"
)

// credentials are what op of stage gets: the stage's own, else the
// global ones of that kind.
func (r *Runner) credentials(stage, op string) map[string]string {
	out := map[string]string{}
	stage, _, _ = strings.Cut(stage, ":") // an instance has its stage's
	global, own := r.planEnv, r.stages[stage].Plan
	if op == opApply {
		global, own = r.applyEnv, r.stages[stage].Apply
	}
	maps.Copy(out, global)
	maps.Copy(out, own)
	return out
}

// env is the complete environment of a Terraform run of op: the bot's own
// CLI config and plugin cache, the lease's home and temporary directory, no
// prompts, the shared settings, and op's credentials.
func (r *Runner) env(l *sandbox.Lease, stage, op string) map[string]string {
	home, tmp := l.Home, l.Tmp
	if home == "" {
		home, tmp = filepath.Join(r.dataDir, "terraform", "home"), os.TempDir()
	}
	env := map[string]string{
		"PATH":                os.Getenv("PATH"),
		"HOME":                home,
		"TMPDIR":              tmp,
		"TF_CLI_CONFIG_FILE":  r.cliConfig,
		"TF_PLUGIN_CACHE_DIR": r.cacheDir,
		"CHECKPOINT_DISABLE":  "1",
	}
	maps.Copy(env, r.baseEnv)
	maps.Copy(env, r.credentials(stage, op))
	if l.UID != 0 {
		// A sandboxed run installs its providers into its own checkout,
		// from the cache as a read-only mirror (see sandboxCLIConfig).
		delete(env, "TF_PLUGIN_CACHE_DIR")
		env["TF_CLI_CONFIG_FILE"] = filepath.Join(l.Home, "stagebot.tfrc")
	}
	return env
}

// session is one use of Terraform on a run's checkout: a sandbox lease, a
// log file Terraform's output streams to (redacted as it goes), and a
// terraform-exec handle with op's environment.
type session struct {
	run   Run
	lease *sandbox.Lease
	// promote: the run is reviewed content, whose providers may join the
	// shared cache when it ends (see promoteProviders).
	promote bool
	r       *Runner
	tf      *tfexec.Terraform
	// bin is the engine's binary tf runs (through the sandbox's launcher
	// when isolated); handle is what tf was made for.
	bin    string
	handle handleKey
	out    bytes.Buffer
	// output is where Terraform's output goes: the log and out.
	output io.Writer
	log    io.WriteCloser
	file   *os.File
}

// bestEffort writes to w until w fails (a full disk under the log), and
// then drops what comes: the run goes on, with its output in memory.
type bestEffort struct {
	w   io.Writer
	err error
}

func (b *bestEffort) Write(p []byte) (int, error) {
	if b.err == nil {
		_, b.err = b.w.Write(p)
	}
	return len(p), nil
}

// open starts a session for op of run; logName names its log ("" for none).
func (r *Runner) open(ctx context.Context, run Run, op, logName string) (*session, error) {
	s := &session{output: io.Discard, run: run, r: r}
	var err error
	if logName != "" {
		if s.file, err = r.openLog(run.Repo, run.PR, run.Stage, run.HeadSHA, logName); err != nil {
			return nil, fmt.Errorf("%s stage %s: %w", logName, run.Stage, err)
		}
		s.log = r.secrets.With(run.Redact.Values()...).Writer(s.file)
		// Terraform's stdout and stderr, and the egress proxy, write
		// at once.
		s.output = &lockedWriter{w: io.MultiWriter(&bestEffort{w: s.log}, &s.out)}
	}
	if err := r.markTrust(run); err != nil {
		s.close()
		return nil, fmt.Errorf("%s stage %s: %w", logName, run.Stage, err)
	}
	spec := sandbox.Spec{Root: run.root(), WriteDir: run.Dir, Egress: append(slices.Clone(r.egress), run.Egress...), Log: s.output}
	lease, err := r.sandbox.Acquire(ctx, spec)
	if err != nil {
		s.close()
		return nil, fmt.Errorf("%s stage %s: %w", logName, run.Stage, err)
	}
	s.lease, s.promote = lease, run.Trusted && r.sandbox.Isolated()
	if err := r.sandboxCLIConfig(lease, run); err != nil {
		s.close()
		return nil, err
	}
	eng, err := r.engine(run)
	if err != nil {
		s.close()
		return nil, err
	}
	s.bin = eng.bin
	bin, extra, err := lease.Command(eng.bin)
	if err != nil {
		s.close()
		return nil, err
	}
	s.handle = handleKey{dir: run.Dir, exec: bin, engine: eng.bin}
	if s.tf, err = r.handles.take(s.handle); err != nil {
		s.close()
		return nil, fmt.Errorf("terraform in %s: %w", run.Dir, err)
	}
	env := r.env(lease, run.Stage, op)
	maps.Copy(env, extra)
	if err := s.tf.SetEnv(env); err != nil {
		s.close()
		return nil, err
	}
	if err := s.tf.SetWaitDelay(r.grace); err != nil {
		s.close()
		return nil, err
	}
	// terraform-exec checks the version once per handle; doing it before
	// the output is attached keeps its JSON out of the run's log.
	if _, _, err := s.tf.Version(ctx, false); err != nil {
		s.close()
		return nil, fmt.Errorf("terraform version: %w", err)
	}
	s.tf.SetStdout(s.output)
	s.tf.SetStderr(s.output)
	return s, nil
}

// close ends the session: the log is flushed and the lease released, so
// nothing the run started lives on.
func (s *session) close() error {
	if s.log != nil {
		s.log.Close()
	}
	if s.file != nil {
		s.file.Close()
	}
	if s.tf != nil {
		s.r.handles.give(s.handle, s.tf)
		s.tf = nil
	}
	if err := s.lease.Release(); err != nil {
		return err
	}
	if s.promote {
		s.r.promoteProviders(s.run.Dir)
	}
	return nil
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
func (r *Runner) RemovePR(ctx context.Context, repo string, pr int) error {
	if err := r.files.DeletePRPlanFiles(context.WithoutCancel(ctx), repo, pr); err != nil {
		return fmt.Errorf("remove the plan files of %s#%d: %w", repo, pr, err)
	}
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
