package workflow

import (
	"cmp"
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

// /apply, and the Apply button (which runs it), live here: apply takes the
// stages in order; applyStage checks each one (upstream applied, who may
// apply, the lock, the requirements of checkRequirements, the policies,
// the secrets it needs) and claims it; turn.apply applies the saved plan and
// records and reports the result. Apply on merge (merge.go) plans the
// merge commit (turn.plan) and ends in the same claimApply and turn.apply.

// claim is the outcome of claimApply.
type claim int

const (
	claimed     claim = iota // the apply may run
	claimBusy                // another apply of the stage runs now
	interrupted              // an apply of the stage died half-way: do not apply on our own
	finished                 // an apply of the stage ran to its end, but its bot died before recording it
)

// claimApply records that run's apply begins (trigger names what asked for
// it). When an apply of the stage is already recorded, it is either running
// now (another replica: busy), or was cut off by a dead bot, this very
// request included: then the saved plan is dropped and the record cleared,
// so that a new plan and apply can continue, and the caller tells the PR.
func (w *Workflow) claimApply(ctx context.Context, repo gh.Repo, pr int, run runner.Run, trigger string) (claim, store.RunningApply, error) {
	running, started, err := w.Store.StartApply(ctx, repo.FullName(), run.Stage, pr, run.HeadSHA, trigger)
	switch {
	case err != nil:
		return 0, running, err
	case started:
		return claimed, running, nil
	case running.TriggerID != trigger && time.Since(running.StartedAt) < w.Runner.Timeout():
		return claimBusy, running, nil
	}
	w.Runner.DiscardPlan(ctx, run)
	// Terraform's own evidence: when the stage's state already is what this
	// commit asks for, the apply ran to its end and only its record was
	// lost with the bot.
	if running.HeadSHA == run.HeadSHA {
		run.Redact = w.redactor(repo.FullName())
		if settled, err := w.Runner.Settled(ctx, run); err != nil {
			logging.From(ctx).Warn("could not tell whether the cut-off apply finished", "stage", run.Stage, "error", run.Redact.Redact(err.Error()))
		} else if settled {
			logging.From(ctx).Info("apply finished before its bot stopped: the state matches the plan", "stage", run.Stage, "started", running.StartedAt)
			return finished, running, nil
		}
	}
	logging.From(ctx).Warn("apply was interrupted: not applying again", "stage", run.Stage, "started", running.StartedAt)
	return interrupted, running, w.Store.FinishApply(ctx, repo.FullName(), run.Stage)
}

// checkText is a check run's title and summary.
type checkText struct{ title, summary string }

// apply applies run's saved plan (its start already recorded), then
// records and reports the result: the stage's comment (view says the stage,
// commit and notes), its check run, the record of applies, the commit the
// stage was applied from, and the result under trigger (what asked for the
// apply), so that a retry of the same trigger reports it rather than
// applying again. It reports whether the apply succeeded.
// What it writes is redacted with the secrets of the stages upstream of
// run's, read first, as its plan's were.
func (t *turn) apply(ctx context.Context, run runner.Run, trigger string, checkID int64, view comments.StageApply, ok, failed checkText) (bool, error) {
	w, client, repo, pr := t.w, t.client, t.repo, run.PR
	t.learnUpstream(ctx, run.Root, run, []string{run.Stage})
	run.Redact = t.redaction()
	// The apply runs to its end even if the job is cancelled: Terraform cut
	// off half-way leaves state and lock behind. The runner's timeout, and
	// a stopping bot (SIGINT, then waiting for Terraform), still bound it.
	res, applyErr := w.Runner.Apply(context.WithoutCancel(ctx), run)
	// Everything below is recorded whatever the job's context says, and
	// through a database blip: the apply happened.
	ctx, cancel := w.recordCtx(ctx)
	defer cancel()
	check := gh.CheckRun{Name: comments.CheckRunName(run.Stage), HeadSHA: run.HeadSHA, Status: "completed", Conclusion: "success", Title: ok.title, Summary: ok.summary,
		// Applied (or failed): the plan is spent, only planning again is left.
		Actions: []gh.CheckRunAction{{Label: "Re-plan", Identifier: actionPlan, Description: cut("Run /plan "+run.Stage, 40)}}}
	var secrets []string // the stage's sensitive outputs
	var ran string
	if res != nil {
		ran = res.RunID
	}
	view.RunURL = runLink(w.runURLs(), ran, applyErr)
	if res != nil {
		view.Engine = res.Engine // the one that made the plan
	} else {
		view.Engine = w.Runner.EngineOf(run)
	}
	var re *runner.RunError
	if errors.As(applyErr, &re) {
		view.Steps = StepViews(re.Steps)
	}
	var se *runner.StepError
	if errors.As(applyErr, &se) {
		// A pre_apply step stopped it before Terraform ran; its output
		// is under its heading, and the plan is kept.
		view.Error = se.Error()
		view.Notes = append(view.Notes, "Nothing was applied, and the plan is kept: once what the step reports is fixed, comment `/apply "+run.Stage+"` again.")
		check.Conclusion, check.Title, check.Summary = "failure", "Step "+se.Step.Name+" (pre_apply) failed", "A `pre_apply` step stopped the apply of `"+run.Stage+"` before anything changed; see the pull request."
	} else if applyErr != nil {
		view.Error = ErrorText(applyErr)
		if errors.Is(applyErr, runner.ErrStopping) {
			view.Notes = append(view.Notes, "⏹️ stagebot was stopping: Terraform was interrupted (SIGINT) and stopped gracefully, with its state written and its lock released. Comment `/plan "+run.Stage+"` to see what is left, then `/apply "+run.Stage+"`.")
		}
		check.Conclusion, check.Title, check.Summary = "failure", failed.title, failed.summary
		logging.From(ctx).Warn("apply failed", "stage", run.Stage, "error", w.redactor(repo.FullName()).Redact(applyErr.Error()))
	} else {
		view.Log = res.Log
		if view.Plan == nil {
			view.Plan = res.Plan // the plan that was applied: its headline, its sensitive values
		}
		view.Outputs = OutputViews(res.Outputs)
		view.Steps = StepViews(res.Steps)
		secrets = w.rememberOutputs(repo.FullName(), run.Stage, res.Outputs)
		if t.leftChangesOut(ctx, run, res) {
			if t.partial == nil {
				t.partial = map[string]bool{}
			}
			t.partial[run.Stage] = true
			view.Notes = append(view.Notes, "🎯 This was a targeted plan: what it left out is not applied. The stage is planned again in full, so the rest of the change is shown.")
		}
	}
	parts := comments.Apply(view, w.redactor(repo.FullName()).With(secrets...))
	if err := w.recordOutcome(ctx, repo, run, store.ApplyResult{PR: pr, HeadSHA: run.HeadSHA, OK: applyErr == nil, Body: parts[0]}, trigger); err != nil {
		return false, err
	}
	if res != nil {
		// The state operations the plan made are done (through a
		// database blip too, as the apply's own record).
		if err := durably(ctx, "the state operations of "+run.Stage, func(ctx context.Context) error {
			_, err := w.Store.StateOpApplied(ctx, repo.FullName(), pr, run.Stage, res.Meta.SHA256, cmp.Or(t.asker, trigger))
			return err
		}); err != nil {
			return false, err
		}
	}
	if err := w.postParts(ctx, client, repo, pr, run.Stage, parts); err != nil {
		return false, err
	}
	if err := w.completeUnitCheck(ctx, client, repo, pr, run.Stage, checkID, check, appliedConclusion(applyErr == nil)); err != nil {
		return false, err
	}
	t.notifyApply(ctx, run, trigger, view, applyErr)
	return applyErr == nil, nil
}

// leftChangesOut reports whether an applied plan left changes out: Terraform
// marks a targeted plan incomplete (1.8 and later); OpenTofu's plans say
// nothing, and the bot recorded its targeted plans itself (MarkPartial).
// A record it cannot read counts as partial: planning again in full costs
// a plan, forgetting the rest costs an unreviewed drift.
func (t *turn) leftChangesOut(ctx context.Context, run runner.Run, res *runner.ApplyResult) bool {
	if res.Plan != nil && res.Plan.Complete != nil && !*res.Plan.Complete {
		return true
	}
	marked, err := t.w.Store.Partial(ctx, t.repo.FullName(), run.PR, run.Stage, res.Meta.SHA256)
	return marked || err != nil
}

// apply applies the named stages, or every affected stage with a plan, in
// order, stopping at the first that cannot be applied. After each apply the
// affected downstream stages are planned again, since they read its outputs.
func (w *Workflow) apply(ctx context.Context, t *turn, ev webhook.CommentEvent, cmd command.Command) error {
	// One listing of the head's check runs serves every stage applied
	// here: an instance's apply asks for its stage's shared one each time.
	t.client = newCheckRunsOf(t.client, t.pr.HeadSHA)
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
			if err := w.reportRecorded(ctx, client, ev.Repo, pr.Number, a.Stage.Name, pr.HeadSHA, trigger, prev); err != nil {
				return err
			}
		case done && !slices.Contains(cmd.Stages, a.Stage.Name):
			continue // applied already; `/apply` (or `/apply tenant`, of its instances) goes on with the next
		default:
			if applied, err = w.applyStage(ctx, t, ev, ws, a, trigger); err != nil {
				return err
			}
		}
		if !applied {
			return w.applyCheck(ctx, client, ev.Repo, pr, cfg)
		}
		// Layered runs: plan what reads this stage's outputs, now; and
		// the stage itself again when its plan left changes out.
		var downstream []string
		if t.partial[a.Stage.Name] {
			downstream = append(downstream, a.Stage.Name)
		}
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
	if r, err := w.unshownPlan(ctx, client, ev.Repo, pr, stage, label); err != nil || r != nil {
		if err != nil {
			return false, err
		}
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
	case c == finished:
		return true, w.reportFinished(ctx, client, ev.Repo, pr.Number, run, trigger, running)
	}
	checkID, err := w.startCheck(ctx, client, ev.Repo, pr.HeadSHA, stage)
	if err != nil {
		return false, err
	}
	log.Info("applying")
	view := comments.StageApply{Stage: stage, HeadSHA: pr.HeadSHA, Notes: notes}
	applied, err := t.apply(ctx, run, trigger, checkID, view,
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
	var lockID string
	if id, err := w.Runner.StateLock(ctx, run); err != nil {
		logging.From(ctx).Warn("could not check the state lock", "stage", stage, "error", w.redactor(repo.FullName()).Redact(err.Error()))
	} else {
		lockID = id
	}
	body := comments.Interrupted(stage, running.PR, running.HeadSHA, running.StartedAt, lockID)
	return w.postParts(ctx, client, repo, number, stage, []string{body})
}

// applyableStates are the mergeable states in which applying is allowed.
var applyableStates = []string{"clean", "unstable", "has_hooks"}

// checkRequirements returns the first requirement the stage does not meet,
// provider code from the PR without an approval that counts included.
func (t *turn) checkRequirements(ctx context.Context, run runner.Run, label string) *comments.Refusal {
	w, client, repo, pr, cfg := t.w, t.client, t.repo, t.pr, t.cfg
	if r := t.notIntoDefaultBranch(label); r != nil {
		return r
	}
	if r := t.providerCodeRefusal(ctx, run, label); r != nil {
		return r
	}
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
