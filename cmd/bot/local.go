package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/workflow"
)

// localFlags are the flags bot plan and bot apply share: which repository
// and commit, and how Terraform runs.
type localFlags struct {
	repoDir, head, dataDir, stateDir *string
	tfBin, tofuBin, tfEnv            *string
	tfVersions                       *string
	timeout                          *time.Duration
	parallelism                      *int
}

func addLocalFlags(fs *flag.FlagSet, headUsage string) (*localFlags, error) {
	defParallel, err := strconv.Atoi(envOr("instance-parallelism", "2"))
	if err != nil {
		return nil, usageError{fmt.Sprintf("%s: %s: %v", fs.Name(), config.EnvName("instance-parallelism"), err)}
	}
	return &localFlags{
		repoDir:     fs.String("repo", ".", "directory holding stagebot.yaml, inside a git repository"),
		head:        fs.String("head", "HEAD", headUsage),
		dataDir:     fs.String("data-dir", envOr("data-dir", "./data"), "directory for workspaces, plan files and logs ["+config.EnvName("data-dir")+"]"),
		stateDir:    fs.String("state-dir", envOr("state-dir", ""), "directory of the state of stages with a local backend (${state_dir} in backend_config), outside every checkout (default: the data dir's state) ["+config.EnvName("state-dir")+"]"),
		tfBin:       fs.String("terraform-bin", envOr("terraform-bin", "terraform"), "Terraform binary ["+config.EnvName("terraform-bin")+"]"),
		tfVersions:  fs.String("terraform-versions-dir", envOr("terraform-versions-dir", ""), "directory of more Terraform binaries (DIR/VERSION/terraform): a stage runs with the newest its terraform_version and required_version allow ["+config.EnvName("terraform-versions-dir")+"]"),
		tofuBin:     fs.String("tofu-bin", envOr("tofu-bin", ""), "OpenTofu binary, for stages with terraform_bin: tofu ["+config.EnvName("tofu-bin")+"]"),
		tfEnv:       fs.String("terraform-env", envOr("terraform-env", ""), "comma-separated env vars passed to Terraform ["+config.EnvName("terraform-env")+"]"),
		timeout:     fs.Duration("timeout", 30*time.Minute, "longest one stage's run may take"),
		parallelism: fs.Int("instance-parallelism", defParallel, "instances of one stage planned at once ["+config.EnvName("instance-parallelism")+"]"),
	}, nil
}

// localRepo is a commit of a local repository checked out into a
// workspace, with the runner that plans it.
type localRepo struct {
	r       *runner.Runner
	secrets *redact.Set
	// top is the repository's own directory, prefix the directory of
	// stagebot.yaml in it, root that directory in the checkout.
	top, prefix, root string
	label, headSHA    string
}

// openLocal resolves the flags' repository and head, prepares the runner
// and checks the head out.
func openLocal(ctx context.Context, name string, lf *localFlags) (*localRepo, error) {
	if *lf.parallelism < 1 || *lf.parallelism > 64 {
		return nil, usageError{fmt.Sprintf("%s: -instance-parallelism must be from 1 to 64, got %d", name, *lf.parallelism)}
	}
	top, err := gitOut(ctx, *lf.repoDir, "rev-parse", "--show-toplevel")
	if err != nil {
		return nil, fmt.Errorf("%s: %s is not inside a git repository: %w", name, *lf.repoDir, err)
	}
	abs, err := filepath.Abs(*lf.repoDir)
	if err != nil {
		return nil, err
	}
	abs, _ = filepath.EvalSymlinks(abs)
	prefix, err := filepath.Rel(top, abs)
	if err != nil {
		return nil, err
	}
	headSHA, err := gitOut(ctx, top, "rev-parse", "--verify", *lf.head+"^{commit}")
	if err != nil {
		return nil, fmt.Errorf("%s: head %q: %w", name, *lf.head, err)
	}
	env := map[string]string{}
	secrets := redact.New()
	for _, v := range strings.Split(*lf.tfEnv, ",") {
		if v = strings.TrimSpace(v); v != "" {
			env[v] = os.Getenv(v)
			secrets.AddCredentials(os.Getenv(v))
		}
	}
	stateDir := *lf.stateDir
	if stateDir == "" {
		stateDir = filepath.Join(*lf.dataDir, "state")
	}
	r, err := runner.New(ctx, runner.Config{TerraformBin: *lf.tfBin, TerraformVersionsDir: *lf.tfVersions, TofuBin: *lf.tofuBin, DataDir: *lf.dataDir, StateDir: stateDir, SharedState: true, Env: env, Timeout: *lf.timeout})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l := &localRepo{r: r, secrets: secrets, top: top, prefix: prefix, label: "local/" + filepath.Base(top), headSHA: headSHA}
	ws := r.WorkspaceDir(l.label, 0, headSHA)
	if err := r.Checkout(ctx, runner.Source{Local: top}, headSHA, ws); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	l.root = filepath.Join(ws, prefix)
	return l, nil
}

// config reads stagebot.yaml at commit sha (the checkout's own when sha is
// the head).
func (l *localRepo) config(ctx context.Context, name, sha, ref string) (*config.Repo, error) {
	var data []byte
	if sha == l.headSHA {
		b, err := os.ReadFile(filepath.Join(l.root, config.RepoFile))
		if err != nil {
			return nil, fmt.Errorf("%s: no %s in %s at %s (commit it first)", name, config.RepoFile, l.prefix, ref)
		}
		data = b
	} else {
		out, err := gitOut(ctx, l.top, "show", sha+":"+filepath.ToSlash(filepath.Join(l.prefix, config.RepoFile)))
		if err != nil {
			return nil, fmt.Errorf("%s: no %s in %s at %s", name, config.RepoFile, l.prefix, ref)
		}
		data = []byte(out + "\n")
	}
	cfg, err := config.ParseRepo(data, l.root)
	if err != nil {
		return nil, fmt.Errorf("%s: %s at %s: %w", name, config.RepoFile, ref, err)
	}
	return cfg, nil
}

// learnUpstream adds the sensitive outputs of the stages upstream of
// stage to the secrets: a downstream plan that reads them through
// terraform_remote_state does not mark them, as the bot does before a
// downstream plan. seen holds the stages already read.
func (l *localRepo) learnUpstream(ctx context.Context, cfg *config.Repo, stage string, seen map[string]bool) {
	up := cfg.Upstream(stage)
	for _, upSt := range cfg.Stages {
		if !up[upSt.Name] || seen[upSt.Name] {
			continue
		}
		seen[upSt.Name] = true
		outs, err := l.r.StageOutputs(ctx, stages.Run(upSt, runner.Run{Repo: l.label, Root: l.root, HeadSHA: l.headSHA, Redact: l.secrets}))
		if err != nil {
			continue // not applied yet: nothing to learn, and its plan says so
		}
		l.secrets.Add(workflow.SensitiveOutputs(outs)...)
	}
}
