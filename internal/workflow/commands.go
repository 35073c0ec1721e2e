package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// runCommand runs /plan, /apply, /unlock or /approve for the comment's
// author, in a turn judged by the rules of the default branch.
func (w *Workflow) runCommand(ctx context.Context, ev webhook.CommentEvent, cmd command.Command) error {
	client := newAskOnce(w.client(ev.InstallationID))
	pr, err := client.PullRequest(ctx, ev.Repo, ev.Number)
	if err != nil {
		return err
	}
	t, err := w.newTurn(ctx, ev.InstallationID, ev.Repo, pr)
	var cerr configError
	if errors.As(err, &cerr) {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("`%s` on the default branch is invalid: %v", config.RepoFile, cerr.err), Next: "fix it on the default branch, then comment again."})
	}
	if err != nil {
		return err
	}
	cfg := t.cfg
	if cfg == nil {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("the default branch has no `%s`.", config.RepoFile), Next: "add one that lists the stages (see stagebot's README)."})
	}
	client = t.client.(*askOnce)
	for _, s := range cmd.Stages {
		if cfg.Stage(s) == nil {
			return w.reply(ctx, client, ev, comments.Help(helpInput(cfg, fmt.Sprintf("there is no stage `%s` in this repository.", s))))
		}
	}
	if r, err := w.mayRun(ctx, client, ev, cfg, cmd); err != nil {
		return err
	} else if r != nil {
		return w.refuse(ctx, client, ev, *r)
	}
	if pr.State != "open" {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: "the pull request is closed.", Next: "reopen it, or open a new one."})
	}
	switch cmd.Name {
	case command.Plan:
		return w.planPR(ctx, t, cmd.Stages)
	case command.Unlock:
		held, err := w.Store.Locks(ctx, ev.Repo.FullName(), pr.Number)
		if err != nil {
			return err
		}
		var release []string // `/unlock tenant` releases every instance's lock
		for _, stage := range held {
			if st := cfg.Stage(stage); len(cmd.Stages) > 0 && (st == nil || !config.IsStageOrUnitOf(cmd.Stages, *st)) {
				continue
			}
			if r, err := w.mayApply(ctx, client, ev.Repo, ev.Author, cfg, stage, cmd.String()); err != nil || r != nil {
				if err != nil {
					return err
				}
				return w.refuse(ctx, client, ev, *r)
			}
			release = append(release, stage)
		}
		var released []string
		if len(release) > 0 {
			if released, err = w.Store.Unlock(ctx, ev.Repo.FullName(), pr.Number, release...); err != nil {
				return err
			}
		}
		msg := "This pull request held no lock on those stages."
		if len(released) > 0 {
			msg = fmt.Sprintf("🔓 Released this pull request's lock on `%s`. Other pull requests may apply them now; this one must `/plan` again before it applies.", strings.Join(released, "`, `"))
		}
		if err := w.reply(ctx, client, ev, msg); err != nil {
			return err
		}
		return w.resumeMerges(ctx, ev.InstallationID, ev.Repo)
	case command.Apply:
		return w.apply(ctx, t, ev, cmd)
	case command.Approve:
		return w.approvePolicies(ctx, t, ev, cmd)
	}
	return nil
}

// mayRun refuses a command its author may not give: /plan needs write;
// /apply and /unlock of named stages need the right to apply each (see
// mayApply). Without named stages, and when no stage has an apply list,
// the role rule is checked here; otherwise each stage is checked when it
// is reached.
func (w *Workflow) mayRun(ctx context.Context, client GitHub, ev webhook.CommentEvent, cfg *config.Repo, cmd command.Command) (*comments.Refusal, error) {
	if cmd.Name == command.Approve {
		return nil, nil // a policy owner of each stage, checked there
	}
	if cmd.Name == command.Plan {
		ok, have, err := w.allowed(ctx, client, ev.Repo, ev.Author, "write", cfg)
		if err != nil || ok {
			return nil, err
		}
		r := comments.NoPermission(cmd.String(), ev.Author, have, "write")
		return &r, nil
	}
	names := cmd.Stages
	if len(names) == 0 {
		for _, s := range cfg.Stages {
			if !cfg.StageAppliers(s.Name).Empty() {
				return nil, nil
			}
		}
		names = cfg.StageNames()[:1] // every stage has the role rule
	}
	for _, stage := range names {
		if r, err := w.mayApply(ctx, client, ev.Repo, ev.Author, cfg, stage, cmd.String()); err != nil || r != nil {
			return r, err
		}
	}
	return nil, nil
}

// allowed reports whether user may act with role need (or is named in the
// apply users), and the user's role.
func (w *Workflow) allowed(ctx context.Context, client GitHub, repo gh.Repo, user, need string, cfg *config.Repo) (bool, string, error) {
	have, err := client.Permission(ctx, repo, user)
	if err != nil {
		return false, "", err
	}
	if slices.Contains(cfg.Apply.Users, user) {
		return true, have, nil
	}
	return slices.Index(config.Roles, have) >= slices.Index(config.Roles, need) && slices.Contains(config.Roles, have), have, nil
}

func (w *Workflow) refuse(ctx context.Context, client GitHub, ev webhook.CommentEvent, r comments.Refusal) error {
	logging.From(ctx).Info("command refused", "why", r.Why)
	body := r.Render(ev.CommentID)
	if _, err := client.UpsertComment(ctx, ev.Repo, ev.Number, comments.ReplyMarker(ev.CommentID), body); err != nil {
		return fmt.Errorf("refuse %s on %s#%d: %w", r.Command, ev.Repo.FullName(), ev.Number, err)
	}
	return nil
}

// affected checks out the PR head and works out the stages it affects; a
// stage this PR already applied at this head no longer holds others back.
// It also returns the paths the PR changes (old and new names).
func (w *Workflow) affected(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo) (string, []stages.Affected, []string, error) {
	files, err := client.ChangedFiles(ctx, repo, pr.Number)
	if err != nil {
		return "", nil, nil, err
	}
	changes := make([]stages.Change, len(files))
	var paths []string
	for i, f := range files {
		changes[i] = stages.Change{Path: f.Path, PreviousPath: f.PreviousPath}
		paths = append(paths, f.Path)
		if f.PreviousPath != "" {
			paths = append(paths, f.PreviousPath)
		}
	}
	clone, err := client.CloneInfo(ctx, repo)
	if err != nil {
		return "", nil, nil, err
	}
	ws := w.Runner.WorkspaceDir(repo.FullName(), pr.Number, pr.HeadSHA)
	if err := w.Runner.Checkout(ctx, runner.Source{URL: clone.URL, Token: clone.Token}, pr.HeadSHA, ws); err != nil {
		var te *runner.TreeError
		if errors.As(err, &te) {
			return "", nil, nil, w.reportTree(ctx, client, repo, pr, te)
		}
		return "", nil, nil, err
	}
	affected, err := stages.Detect(cfg, ws, changes)
	if err != nil {
		return "", nil, nil, err
	}
	for i := range affected {
		var still []string
		for _, up := range affected[i].WaitingFor {
			done, err := w.appliedHere(ctx, repo, up, pr)
			if err != nil {
				return "", nil, nil, err
			}
			if !done {
				still = append(still, up)
			}
		}
		affected[i].WaitingFor = still
	}
	return ws, affected, paths, nil
}

// errReported is an error the PR was told about: the job is done.
var errReported = errors.New("reported to the pull request")

// reportTree tells the PR why its commit cannot be checked out. Nothing of
// it is planned or applied.
func (w *Workflow) reportTree(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, te *runner.TreeError) error {
	marker := "<!-- stagebot:tree -->"
	body := fmt.Sprintf("%s\n❌ **stagebot cannot plan %s:** %s\n\nNothing of this commit is planned or applied. Fix the tree and push.\n", marker, comments.ShortSHA(pr.HeadSHA), te.Reason)
	if _, err := client.UpsertComment(ctx, repo, pr.Number, marker, w.redactor(repo.FullName()).Redact(body)); err != nil {
		return err
	}
	logging.From(ctx).Warn("commit refused", "sha", pr.HeadSHA, "reason", te.Reason)
	return errReported
}

// appliedHere reports whether this PR applied the stage at its current head.
func (w *Workflow) appliedHere(ctx context.Context, repo gh.Repo, stage string, pr gh.PullRequest) (bool, error) {
	if w.Store == nil {
		return false, nil
	}
	last, ok, err := w.Store.LastApply(ctx, repo.FullName(), stage)
	return ok && last.PR == pr.Number && last.HeadSHA == pr.HeadSHA, err
}

// apply applies the named stages, or every affected stage with a plan, in
// order, stopping at the first that cannot be applied. After each apply the
// affected downstream stages are planned again, since they read its outputs.
func (w *Workflow) apply(ctx context.Context, t *turn, ev webhook.CommentEvent, cmd command.Command) error {
	client, pr, cfg := t.client, t.pr, t.cfg
	ws, affected, _, err := w.affected(ctx, client, ev.Repo, pr, cfg)
	if errors.Is(err, errReported) {
		return nil
	}
	if err != nil {
		return err
	}
	var targets []stages.Affected
	for _, a := range affected {
		if a.Problem != "" {
			continue // nothing was planned
		}
		if len(cmd.Stages) == 0 || config.IsStageOrUnitOf(cmd.Stages, a.Stage) {
			targets = append(targets, a)
		}
	}
	if len(targets) == 0 {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: "this pull request changes none of those stages.", Next: "name a stage it changes, or comment `/help`."})
	}
	trigger := fmt.Sprintf("comment-%d", ev.CommentID)
	for _, a := range targets {
		// This very command applied the stage already (the job runs again
		// after a failure): report that apply, never apply twice, and go on
		// as the first run would have.
		prev, again, err := w.Store.ApplyResultOf(ctx, ev.Repo.FullName(), a.Stage.Name, trigger)
		if err != nil {
			return err
		}
		applied := prev.OK
		switch done, err := w.appliedHere(ctx, ev.Repo, a.Stage.Name, pr); {
		case err != nil:
			return err
		case again:
			if err := w.postParts(ctx, client, ev.Repo, pr.Number, a.Stage.Name, []string{prev.Body}); err != nil {
				return err
			}
		case done && len(cmd.Stages) == 0:
			continue // applied already; `/apply` goes on with the next
		default:
			if applied, err = w.applyStage(ctx, t, ev, ws, a, trigger); err != nil {
				return err
			}
		}
		if !applied {
			return w.applyCheck(ctx, client, ev.Repo, pr, cfg)
		}
		// Layered runs: plan what reads this stage's outputs, now.
		var downstream []string
		for _, d := range affected {
			if cfg.Upstream(d.Stage.Name)[a.Stage.Name] {
				downstream = append(downstream, d.Stage.Name)
			}
		}
		if len(downstream) > 0 {
			if err := w.planPR(ctx, t, downstream); err != nil {
				return err
			}
			if len(cmd.Stages) == 0 {
				// The fresh plans must be reviewed before they are applied.
				break
			}
		}
	}
	return w.applyCheck(ctx, client, ev.Repo, pr, cfg)
}

// applyStage checks a stage's requirements and lock, then applies its saved
// plan. It reports whether the stage was applied; a refusal is posted.
func (w *Workflow) applyStage(ctx context.Context, t *turn, ev webhook.CommentEvent, ws string, a stages.Affected, trigger string) (bool, error) {
	client, pr, cfg := t.client, t.pr, t.cfg
	stage := a.Stage.Name
	log := logging.From(ctx).With("stage", stage)
	label := "/apply " + stage
	if len(a.WaitingFor) > 0 {
		return false, w.refuse(ctx, client, ev, comments.Refusal{
			Command: label,
			Why:     fmt.Sprintf("`%s` reads the outputs of `%s`, which this pull request also changes and has not applied.", stage, strings.Join(a.WaitingFor, "`, `")),
			Next:    fmt.Sprintf("comment `/apply %s` first; `%s` is planned again right after.", a.WaitingFor[0], stage),
		})
	}
	if r, err := w.mayApply(ctx, client, ev.Repo, ev.Author, cfg, stage, label); err != nil || r != nil {
		if err != nil {
			return false, err
		}
		return false, w.refuse(ctx, client, ev, *r)
	}
	run := stages.Run(a.Stage, runner.Run{Repo: ev.Repo.FullName(), PR: pr.Number, Root: ws, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA})
	// The lock first: while another PR holds the stage nothing else matters.
	if owner, err := w.Store.LockOwner(ctx, ev.Repo.FullName(), stage); err != nil {
		return false, err
	} else if owner != 0 && owner != pr.Number {
		return false, w.refuse(ctx, client, ev, comments.Locked(label, stage, owner))
	}
	if r := t.checkRequirements(ctx, run, label); r != nil {
		return false, w.refuse(ctx, client, ev, *r)
	}
	if r := w.checkPolicies(ctx, cfg, run, label); r != nil {
		return false, w.refuse(ctx, client, ev, *r)
	}
	if err := w.Store.Lock(ctx, ev.Repo.FullName(), stage, pr.Number, pr.HeadSHA); err != nil {
		var le *store.LockedError
		if errors.As(err, &le) {
			return false, w.refuse(ctx, client, ev, comments.Locked(label, stage, le.PR))
		}
		return false, err
	}
	// The secrets this stage's release reads must exist before it applies.
	notes, err := w.syncSecrets(ctx, cfg, run, ws, stage)
	if err != nil {
		return false, w.refuse(ctx, client, ev, comments.Refusal{
			Command: label,
			Why:     "the Kubernetes secret it needs could not be written: " + err.Error(),
			Next:    "fix the cause (the cluster must be reachable with the kubeconfig output), then comment `" + label + "` again.",
		})
	}
	c, running, err := w.claimApply(ctx, ev.Repo, pr.Number, run, trigger)
	switch {
	case err != nil:
		return false, err
	case c == claimBusy:
		return false, w.refuse(ctx, client, ev, comments.Refusal{
			Command: label,
			Why:     fmt.Sprintf("an apply of `%s` (from #%d) is running now.", stage, running.PR),
			Next:    "wait for it to finish, then comment again.",
		})
	case c == interrupted:
		return false, w.reportInterrupted(ctx, client, ev.Repo, pr.Number, run, running)
	}
	checkID, err := w.startCheck(ctx, client, ev.Repo, pr.HeadSHA, stage)
	if err != nil {
		return false, err
	}
	// What the apply shows may carry upstream secrets, as its plan did.
	t.learnUpstream(ctx, ws, run, []config.Stage{a.Stage})
	run.Redact = t.redaction()
	log.Info("applying")
	view := comments.StageApply{Stage: stage, HeadSHA: pr.HeadSHA, Notes: notes}
	applied, err := w.runApply(ctx, client, ev.Repo, pr.Number, run, trigger, checkID, view,
		checkText{"Applied", "`" + stage + "` was applied from the saved plan of " + comments.ShortSHA(pr.HeadSHA) + "."},
		checkText{"Apply failed", "The apply of `" + stage + "` failed; see the pull request."})
	if err != nil || !applied {
		return false, err
	}
	log.Info("applied")
	return true, nil
}

// reportInterrupted tells the PR that an apply died half-way and how to go
// on; the stage stays locked to the PR. When the interrupted Terraform still
// holds the state lock, the comment names it and the command to release it.
func (w *Workflow) reportInterrupted(ctx context.Context, client GitHub, repo gh.Repo, number int, run runner.Run, running store.RunningApply) error {
	stage := run.Stage
	lock := "If Terraform reports its state is locked, the interrupted run still holds the state lock: once you are sure nothing runs, release it with `terraform force-unlock` on the stage."
	if id, err := w.Runner.StateLock(ctx, run); err != nil {
		logging.From(ctx).Warn("could not check the state lock", "stage", stage, "error", w.redactor(repo.FullName()).Redact(err.Error()))
	} else if id != "" {
		lock = fmt.Sprintf("**The interrupted run still holds the state lock** (ID `%s`). Once you are sure no Terraform runs on `%s`, release it in the stage's directory with:\n\n```sh\nterraform force-unlock %s\n```", id, stage, id)
	}
	body := fmt.Sprintf("%s\n### ⚠️ stagebot: the apply of `%s` was interrupted\n\n"+
		"The apply that started at %s (#%d, %s) did not finish: the bot stopped during it. stagebot does not apply again on its own. "+
		"The stage stays locked to #%d.\n\n**What to do:** comment `/plan %s` to see what the interrupted apply left, then `/apply %s`.\n\n%s\n",
		comments.Marker(stage), stage, running.StartedAt.UTC().Format(time.RFC3339), running.PR, comments.ShortSHA(running.HeadSHA), running.PR, stage, stage, lock)
	return w.postParts(ctx, client, repo, number, stage, []string{body})
}

// applyableStates are the mergeable states in which applying is allowed.
var applyableStates = []string{"clean", "unstable", "has_hooks"}

// checkRequirements returns the first requirement the stage does not meet.
func (t *turn) checkRequirements(ctx context.Context, run runner.Run, label string) *comments.Refusal {
	w, client, repo, pr, cfg := t.w, t.client, t.repo, t.pr, t.cfg
	for _, req := range cfg.StageRequirements(run.Stage) {
		switch req {
		case config.RequireApproved:
			_, why, err := t.approvals(ctx)
			if err != nil {
				r := comments.RequirementFailed(label, req, "the reviews could not be read: "+err.Error(), "comment again in a minute.")
				return &r
			}
			if why != "" {
				r := comments.RequirementFailed(label, req, why, "get an approving review of the current commit from someone with write permission who neither opened nor pushed to this pull request, then comment `"+label+"` again.")
				return &r
			}
		case config.RequireMergeable:
			state := pr.MergeableState
			if state == "unknown" || state == "" {
				// GitHub computes it lazily; ask once more.
				time.Sleep(time.Second)
				if again, err := client.PullRequest(ctx, repo, pr.Number); err == nil {
					state = again.MergeableState
				}
			}
			if !slices.Contains(applyableStates, state) {
				r := comments.RequirementFailed(label, req, fmt.Sprintf("GitHub says the pull request is `%s`, not mergeable.", state), "update the branch or resolve conflicts and required reviews, then comment `"+label+"` again.")
				return &r
			}
		case config.RequireFresh:
			meta, err := w.Runner.CheckPlan(ctx, run)
			if err != nil {
				r := comments.RequirementFailed(label, req, err.Error(), "comment `/plan "+run.Stage+"`, review the new plan, then `"+label+"`.")
				return &r
			}
			last, ok, err := w.Store.LastApply(ctx, repo.FullName(), run.Stage)
			if err == nil && ok && last.PR != pr.Number && last.At.After(meta.CreatedAt) {
				r := comments.RequirementFailed(label, req, fmt.Sprintf("#%d applied `%s` after this plan was made.", last.PR, run.Stage), "comment `/plan "+run.Stage+"` to plan against what is deployed now, then `"+label+"`.")
				return &r
			}
		}
	}
	return nil
}
