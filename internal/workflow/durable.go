package workflow

import (
	"context"
	"time"

	"github.com/stagebot/stagebot/internal/comments"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// What happened is recorded even through a database blip: once Terraform
// has applied, the apply's bookkeeping (its result, the applied commit,
// the end of its running record) is written with durably, which tries
// again with backoff until the database answers, up to the job's deadline
// (or the runner's timeout when the job has none). Terraform never runs
// again for it.

// durableWait bounds the backoff between two tries of a durable write.
var durableWait = struct{ first, most time.Duration }{200 * time.Millisecond, 5 * time.Second}

// recordCtx is the context an apply's bookkeeping is written in: not
// cancelled with the job (the apply happened), but bounded by the job's
// deadline, or the runner's timeout.
func (w *Workflow) recordCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(w.Runner.Timeout())
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// durably runs write until it succeeds or ctx ends, waiting longer after
// each failure; it returns write's last error when ctx ends first.
func durably(ctx context.Context, what string, write func(context.Context) error) error {
	wait := durableWait.first
	for try := 1; ; try++ {
		err := write(ctx)
		if err == nil {
			if try > 1 {
				logging.From(ctx).Info("recorded after the database came back", "what", what, "tries", try)
			}
			return nil
		}
		logging.From(ctx).Warn("could not record; trying again", "what", what, "try", try, "wait", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, durableWait.most)
	}
}

// recordOutcome records, durably, what an apply came to: when it applied,
// the apply and the commit the stage now has; its result under each
// trigger; and, last, the end of its running record, so that a job that
// dies before that finds the result when it runs again and reports it
// (reportRecorded) instead of an interrupted apply.
func (w *Workflow) recordOutcome(ctx context.Context, repo gh.Repo, run runner.Run, result store.ApplyResult, triggers ...string) error {
	if result.OK {
		appliedAt := time.Now()
		if err := durably(ctx, "the apply of "+run.Stage, func(ctx context.Context) error {
			if err := w.Store.RecordApply(ctx, repo.FullName(), run.Stage, result.PR, run.HeadSHA, appliedAt); err != nil {
				return err
			}
			return w.Store.SetAppliedCommit(ctx, repo.FullName(), run.Stage, run.HeadSHA)
		}); err != nil {
			return err
		}
	}
	return durably(ctx, "the result of the apply of "+run.Stage, func(ctx context.Context) error {
		for _, tr := range triggers {
			if err := w.Store.RecordApplyResult(ctx, repo.FullName(), run.Stage, tr, result); err != nil {
				return err
			}
		}
		return w.Store.FinishApply(ctx, repo.FullName(), run.Stage)
	})
}

// OutputViews are a stage's outputs as an apply's comment shows them.
func OutputViews(outs []runner.Output) []comments.Output {
	views := make([]comments.Output, len(outs))
	for i, o := range outs {
		views[i] = comments.Output{Name: o.Name, Sensitive: o.Sensitive, Value: string(o.Value)}
	}
	return views
}

// completeStageCheck completes the stage's newest check run on sha, when
// there is one, as applied (ok) or failed, with summary.
func (w *Workflow) completeStageCheck(ctx context.Context, client GitHub, repo gh.Repo, number int, sha, stage string, ok bool, summary string) error {
	check := gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: sha, Status: "completed", Conclusion: "success", Title: "Applied", Summary: summary}
	if !ok {
		check.Conclusion, check.Title = "failure", "Apply failed"
	}
	return w.completeUnitCheck(ctx, client, repo, number, stage, 0, check, appliedConclusion(ok))
}

// reportRecorded reports an apply this very trigger made before its job
// ran again: its recorded comment; and when the job died after recording
// the result but before ending the apply's running record, the record is
// ended and the stage's check run on sha completed with the result, so
// that neither the stage nor a required check stays held.
func (w *Workflow) reportRecorded(ctx context.Context, client GitHub, repo gh.Repo, number int, stage, sha, trigger string, prev store.ApplyResult) error {
	if err := w.postParts(ctx, client, repo, number, stage, []string{prev.Body}); err != nil {
		return err
	}
	ended, err := w.Store.FinishApplyOf(ctx, repo.FullName(), stage, trigger)
	if err != nil || !ended {
		return err
	}
	summary := "`" + stage + "` was applied; see the pull request."
	if !prev.OK {
		summary = "The apply of `" + stage + "` failed; see the pull request."
	}
	return w.completeStageCheck(ctx, client, repo, number, sha, stage, prev.OK, summary)
}

// reportFinished records and reports an apply that ran to its end while
// its bot died before recording it (claimApply found the stage's state to
// be what the commit asks for): applied, with the outputs read from the
// state, under the trigger that started it and the one that found it; the
// running record ends and the stage's check run on the commit completes.
func (w *Workflow) reportFinished(ctx context.Context, client GitHub, repo gh.Repo, number int, run runner.Run, trigger string, running store.RunningApply) error {
	ctx, cancel := w.recordCtx(ctx)
	defer cancel()
	outs, err := w.Runner.StageOutputs(ctx, run)
	if err != nil {
		return err
	}
	view := comments.StageApply{Stage: run.Stage, HeadSHA: run.HeadSHA, Engine: w.Runner.EngineOf(run), Outputs: OutputViews(outs), Notes: []string{
		"ℹ️ The bot stopped right after Terraform applied this plan (started " + running.StartedAt.UTC().Format(time.RFC3339) + "), before it recorded the outcome. The stage's state is what this commit asks for, so the apply is reported as done; Terraform's own output was lost with the bot.",
	}}
	secrets := w.rememberOutputs(repo.FullName(), run.Stage, outs)
	parts := comments.Apply(view, w.redactor(repo.FullName()).With(secrets...))
	result := store.ApplyResult{PR: number, HeadSHA: run.HeadSHA, OK: true, Body: parts[0]}
	if err := w.recordOutcome(ctx, repo, run, result, running.TriggerID, trigger); err != nil {
		return err
	}
	if err := w.postParts(ctx, client, repo, number, run.Stage, parts); err != nil {
		return err
	}
	return w.completeStageCheck(ctx, client, repo, number, run.HeadSHA, run.Stage, true, "`"+run.Stage+"` was applied; its bot stopped before it recorded so, and the stage's state shows it.")
}
