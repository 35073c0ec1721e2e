// Package workflow turns queued GitHub events into the bot's work on pull
// requests: commands, plans and applies.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stagebot/stagebot/internal/redact"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/drift"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// GitHub is the part of the GitHub client the workflow uses.
type GitHub interface {
	React(ctx context.Context, repo gh.Repo, commentID int64, content string) error
	UpsertComment(ctx context.Context, repo gh.Repo, number int, marker, body string) (gh.Comment, error)
	UpsertCommentIn(ctx context.Context, repo gh.Repo, number int, comments []gh.Comment, marker, body string) (gh.Comment, error)
	Comments(ctx context.Context, repo gh.Repo, number int) ([]gh.Comment, error)
	EditComment(ctx context.Context, repo gh.Repo, id int64, body string) error
	DeleteComment(ctx context.Context, repo gh.Repo, id int64) error
	PullRequest(ctx context.Context, repo gh.Repo, number int) (gh.PullRequest, error)
	ChangedFiles(ctx context.Context, repo gh.Repo, number int) ([]gh.ChangedFile, error)
	FileContent(ctx context.Context, repo gh.Repo, path, ref string) ([]byte, error)
	CloneInfo(ctx context.Context, repo gh.Repo) (gh.Clone, error)
	CreateCheckRun(ctx context.Context, repo gh.Repo, cr gh.CheckRun) (int64, error)
	UpdateCheckRun(ctx context.Context, repo gh.Repo, id int64, cr gh.CheckRun) error
	FindCheckRun(ctx context.Context, repo gh.Repo, sha, name string) (int64, error)
	CheckRunsOn(ctx context.Context, repo gh.Repo, sha string) (map[string]int64, error)
	Permission(ctx context.Context, repo gh.Repo, user string) (string, error)
	TeamMember(ctx context.Context, team, user string) (bool, error)
	Reviews(ctx context.Context, repo gh.Repo, number int) ([]gh.Review, error)
	PullCommits(ctx context.Context, repo gh.Repo, number int) ([]gh.Commit, error)
	MergedPullsOf(ctx context.Context, repo gh.Repo, sha, branch string) ([]int, error)
	Issues(ctx context.Context, repo gh.Repo, label, state string) ([]gh.Issue, error)
	CreateIssue(ctx context.Context, repo gh.Repo, is gh.Issue, marker string) (gh.Issue, error)
	EditIssue(ctx context.Context, repo gh.Repo, is gh.Issue) error
	// RateLimit is the installation's API quota as GitHub last reported it.
	RateLimit() (gh.Rate, bool)
}

// Config is what a Workflow works with; New checks it.
type Config struct {
	// Installation returns the GitHub client of an installation.
	Installation func(id int64) GitHub
	// Runner runs Terraform.
	Runner *runner.Runner
	// Secrets are values never to be shown, in any repository: the
	// credentials Terraform gets and the bot's own.
	Secrets *redact.Set
	// Serves reports whether the bot deploys a repository (owner/name):
	// the allowlist. The webhook checks it too; work that starts without a
	// delivery (drift checks, merges that waited) is held to it by the
	// gate. nil serves every repository.
	Serves func(repo string) bool
	// Store keeps stage locks and the record of applies.
	Store *store.Store
	// Shared says other bots use the same database (PostgreSQL): work on a
	// PR is then also leased in the database.
	Shared bool
	// LeaseTTL is how long a dead bot's lease on a PR holds the others
	// back (default 2 minutes).
	LeaseTTL time.Duration
	// Parallelism bounds the instances of a stage planned at once.
	Parallelism int
	// InstanceCheckRuns: a stage with fewer instances planned in a push
	// gets a check run per instance; more share the stage's one.
	InstanceCheckRuns int
	// Limits bound what one push may cost (zero: unbounded).
	Limits Limits
	// PublicURL is where the bot's dashboard is reached (no trailing
	// slash): comments link to their run's page. "" links nothing.
	PublicURL string
	// Drifts runs drift checks.
	Drifts *drift.Checker
	// Enqueue queues a job (drift checks the schedule starts).
	Enqueue func(ctx context.Context, job jobs.Job) error
	// Notifier queues notifications of applies, drift, policy denials and
	// merges (nil: none).
	Notifier *notify.Notifier
	// GitHubWebURL is where people see GitHub (https://github.com): the
	// links notifications carry.
	GitHubWebURL string
	// SweepChecksAfter is how long a check run the bot opened may stay
	// in progress before the maintenance completes it as cancelled: no job
	// is still at it by then (0: the job timeout plus LeaseTTL plus a
	// minute).
	SweepChecksAfter time.Duration
	// Retention bounds the data dir; DiskUsage reports its size.
	Retention runner.Retention
	DiskUsage *prometheus.GaugeVec
}

// Workflow handles every kind of job. It implements queue.Handlers. New
// makes one.
type Workflow struct {
	Config

	prs    prRuns
	merges repoLocks
	known  knownSecrets

	holderOnce sync.Once
	holderID   string
}

var _ queue.Handlers = (*Workflow)(nil)

// New makes the workflow of cfg, refusing a wiring that would fail a job
// later: what every job needs (GitHub, Terraform, the store, the
// secrets), what the schedule needs (drift checks, a queue to start them
// in), and bounds that make sense.
func New(cfg Config) (*Workflow, error) {
	var missing []string
	for name, ok := range map[string]bool{
		"Installation": cfg.Installation != nil, "Runner": cfg.Runner != nil, "Store": cfg.Store != nil,
		"Secrets": cfg.Secrets != nil, "Drifts": cfg.Drifts != nil, "Enqueue": cfg.Enqueue != nil,
	} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("workflow: no %s", strings.Join(missing, ", "))
	}
	if cfg.Parallelism < 0 || cfg.LeaseTTL < 0 {
		return nil, fmt.Errorf("workflow: parallelism %d and lease TTL %s must not be negative", cfg.Parallelism, cfg.LeaseTTL)
	}
	if err := cfg.Limits.check(); err != nil {
		return nil, err
	}
	if strings.HasSuffix(cfg.PublicURL, "/") {
		return nil, fmt.Errorf("workflow: public URL %q ends in a slash", cfg.PublicURL)
	}
	return &Workflow{Config: cfg}, nil
}

// Comment answers a command in a PR comment.
func (w *Workflow) Comment(ctx context.Context, job jobs.CommentJob) (err error) {
	ev := job.Event
	defer func() { err = w.jobResult(ev.Repo.FullName(), err) }()
	log := logging.From(ctx)
	cmd, err := command.Parse(ev.Body)
	if errors.Is(err, command.ErrNotCommand) {
		return nil // the webhook filters these; a rule change may leave some queued
	}
	client := w.client(ev.InstallationID)
	// The eyes tell the user the bot took the comment; GitHub keeps one
	// per user and content, so a re-run adds nothing.
	if err := client.React(ctx, ev.Repo, ev.CommentID, "eyes"); err != nil {
		return err
	}
	var usage *command.UsageError
	switch {
	case errors.As(err, &usage):
		log.Info("command refused", "reason", usage.Msg)
		return w.reply(ctx, client, ev, comments.Help(comments.HelpInput{Problem: usage.Msg}))
	case err != nil:
		return err
	case cmd.Name == command.Help:
		cfg, _ := w.repoConfig(ctx, client, ev.Repo)
		return w.reply(ctx, client, ev, comments.Help(helpInput(cfg, "")))
	case cmd.Name == command.Drift:
		log.Info("command taken", "command", cmd.String())
		return w.driftCommand(ctx, client, ev, cmd)
	case ev.IsIssue:
		return nil // on an issue only /drift means something
	}
	log.Info("command taken", "command", cmd.String())
	// Commands wait for the PR's running work and are never cancelled by
	// later events: an apply cut off half-way is worse than a late one.
	prCtx, done, err := w.beginPR(ctx, ev.Repo, ev.Number, false, false)
	if err != nil {
		return err
	}
	defer done()
	return w.runCommand(prCtx, ev, cmd)
}

// helpInput describes the repository for /help.
func helpInput(cfg *config.Repo, problem string) comments.HelpInput {
	in := comments.HelpInput{Problem: problem}
	if cfg != nil {
		in.Stages = cfg.StageNames()
		in.WhoMayApply = whoMayApply(cfg)
	}
	return in
}

// whoMayApply says, for /help, who may apply which stage.
func whoMayApply(cfg *config.Repo) string {
	role := fmt.Sprintf("users with the `%s` role or higher", cfg.Apply.Permission)
	var parts []string
	listed := false
	for _, s := range cfg.Stages {
		who := cfg.StageAppliers(s.Name)
		if who.Empty() {
			parts = append(parts, fmt.Sprintf("`%s`: %s", s.Name, role))
		} else {
			listed = true
			parts = append(parts, fmt.Sprintf("`%s`: %s", s.Name, comments.Appliers(who.Users, who.Teams)))
		}
	}
	if !listed {
		return role
	}
	return "per stage, " + strings.Join(parts, "; ")
}

func (w *Workflow) reply(ctx context.Context, client GitHub, ev webhook.CommentEvent, body string) error {
	marker := comments.ReplyMarker(ev.CommentID)
	if _, err := client.UpsertComment(ctx, ev.Repo, ev.Number, marker, marker+"\n"+body); err != nil {
		return fmt.Errorf("reply to comment %d on %s#%d: %w", ev.CommentID, ev.Repo.FullName(), ev.Number, err)
	}
	return nil
}

// Push records who pushed to a branch, and which commits: whoever pushed
// to a PR's head branch, or pushed one of its commits anywhere, whenever
// (also while the PR was closed, or before it was opened, when GitHub
// sends no synchronize), may not approve it.
func (w *Workflow) Push(ctx context.Context, job jobs.PushJob) error {
	ev := job.Event
	branch := strings.TrimPrefix(ev.Ref, "refs/heads/")
	if ev.Sender == "" || branch == ev.Repo.DefaultBranch {
		return nil
	}
	logging.From(ctx).Info("push recorded", "branch", branch, "by", ev.Sender, "commits", len(ev.Commits))
	// By commit too: a commit pushed to one branch may reach a PR from
	// another.
	if err := w.Store.AddCommitPushers(ctx, ev.Repo.FullName(), ev.Sender, ev.Commits); err != nil {
		return err
	}
	return w.Store.AddBranchPusher(ctx, ev.Repo.FullName(), branch, ev.Sender)
}

// CheckRun re-plans a stage when someone re-runs its check run on a PR.
func (w *Workflow) CheckRun(ctx context.Context, job jobs.CheckRunJob) (err error) {
	ev := job.Event
	defer func() { err = w.jobResult(ev.Repo.FullName(), err) }()
	stage := strings.TrimPrefix(ev.Name, "stagebot/")
	client := w.client(ev.InstallationID)
	if ev.Action == "requested_action" {
		return w.pressed(ctx, client, ev)
	}
	for _, number := range ev.PullRequests {
		err := func() error {
			prCtx, done, err := w.beginPR(ctx, ev.Repo, number, false, true)
			if err != nil {
				return err
			}
			defer done()
			pr, err := client.PullRequest(prCtx, ev.Repo, number)
			if err != nil || pr.State != "open" || pr.HeadSHA != ev.HeadSHA {
				return err // a newer head has its own checks
			}
			t, err := w.newTurn(prCtx, ev.InstallationID, ev.Repo, pr)
			if err != nil || t.cfg == nil {
				return err
			}
			var only []string
			if t.cfg.Stage(stage) != nil {
				only = []string{stage}
			}
			logging.From(ctx).Info("check run re-requested: planning again", "check", ev.Name, "pr", number)
			return w.planPR(prCtx, t, only)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// runURLs makes a run's dashboard page from its ID: nil without a
// dashboard.
func (w *Workflow) runURLs() func(id string) string {
	if w.PublicURL == "" {
		return nil
	}
	return func(id string) string { return w.PublicURL + "/runs/" + id }
}
