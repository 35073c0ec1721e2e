package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/stagebot/stagebot/internal/comments"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// claim is the outcome of claimApply.
type claim int

const (
	claimed     claim = iota // the apply may run
	claimBusy                // another apply of the stage runs now
	interrupted              // an apply of the stage died half-way: do not apply on our own
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
	logging.From(ctx).Warn("apply was interrupted: not applying again", "stage", run.Stage, "started", running.StartedAt)
	w.Runner.DiscardPlan(ctx, run)
	return interrupted, running, w.Store.FinishApply(ctx, repo.FullName(), run.Stage)
}

// checkText is a check run's title and summary.
type checkText struct{ title, summary string }

// runApply applies run's saved plan (its start already recorded), then
// records and reports the result: the stage's comment (view says the stage,
// commit and notes), its check run, the record of applies, the commit the
// stage was applied from, and the result under trigger (what asked for the
// apply), so that a retry of the same trigger reports it rather than
// applying again. It reports whether the apply succeeded.
func (w *Workflow) runApply(ctx context.Context, client GitHub, repo gh.Repo, pr int, run runner.Run, trigger string, checkID int64, view comments.StageApply, ok, failed checkText) (bool, error) {
	// The apply runs to its end even if the job is cancelled: Terraform cut
	// off half-way leaves state and lock behind. The runner's timeout, and
	// a stopping bot (SIGINT, then waiting for Terraform), still bound it.
	view.Engine = w.Runner.EngineOf(run)
	res, applyErr := w.Runner.Apply(context.WithoutCancel(ctx), run)
	// Everything below is recorded whatever the job's context says: the
	// apply happened.
	ctx = context.WithoutCancel(ctx)
	if err := w.Store.FinishApply(ctx, repo.FullName(), run.Stage); err != nil {
		return false, err
	}
	check := gh.CheckRun{Name: comments.CheckRunName(run.Stage), HeadSHA: run.HeadSHA, Status: "completed", Conclusion: "success", Title: ok.title, Summary: ok.summary,
		// Applied (or failed): the plan is spent, only planning again is left.
		Actions: []gh.CheckRunAction{{Label: "Re-plan", Identifier: actionPlan, Description: cut("Run /plan "+run.Stage, 40)}}}
	var secrets []string // the stage's sensitive outputs
	var ran string
	if res != nil {
		ran = res.RunID
	}
	view.RunURL = runLink(w.runURLs(), ran, applyErr)
	if applyErr != nil {
		view.Error = errorText(applyErr)
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
		for _, o := range res.Outputs {
			view.Outputs = append(view.Outputs, comments.Output{Name: o.Name, Sensitive: o.Sensitive, Value: string(o.Value)})
		}
		secrets = w.rememberOutputs(repo.FullName(), run.Stage, res.Outputs)
		if err := w.Store.RecordApply(ctx, repo.FullName(), run.Stage, pr, run.HeadSHA, time.Now()); err != nil {
			return false, err
		}
		if err := w.Store.SetAppliedCommit(ctx, repo.FullName(), run.Stage, run.HeadSHA); err != nil {
			return false, err
		}
	}
	parts := comments.Apply(view, w.redactor(repo.FullName()).With(secrets...))
	if err := w.Store.RecordApplyResult(ctx, repo.FullName(), run.Stage, trigger, store.ApplyResult{PR: pr, HeadSHA: run.HeadSHA, OK: applyErr == nil, Body: parts[0]}); err != nil {
		return false, err
	}
	if err := w.postParts(ctx, client, repo, pr, run.Stage, parts); err != nil {
		return false, err
	}
	if err := client.UpdateCheckRun(ctx, repo, checkID, check); err != nil {
		return false, err
	}
	return applyErr == nil, nil
}
