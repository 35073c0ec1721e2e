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
	id, err := client.FindCheckRun(ctx, repo, sha, comments.CheckRunName(stage))
	if err != nil || id == 0 {
		return err
	}
	check := gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: sha, Status: "completed", Conclusion: "success", Title: "Applied", Summary: "`" + stage + "` was applied; see the pull request."}
	if !prev.OK {
		check.Conclusion, check.Title, check.Summary = "failure", "Apply failed", "The apply of `"+stage+"` failed; see the pull request."
	}
	return client.UpdateCheckRun(ctx, repo, id, check)
}

// reportFinished records and reports an apply that ran to its end while
// its bot died before recording it (claimApply found the stage's state to
// be what the commit asks for): applied, with the outputs read from the
// state, under the trigger that started it and the one that found it; the
// running record ends and the stage's check run on the commit completes.
func (w *Workflow) reportFinished(ctx context.Context, client GitHub, repo gh.Repo, number int, run runner.Run, trigger string, running store.RunningApply) error {
	ctx, cancel := w.recordCtx(ctx)
	defer cancel()
	view := comments.StageApply{Stage: run.Stage, HeadSHA: run.HeadSHA, Engine: w.Runner.EngineOf(run), Notes: []string{
		"ℹ️ The bot stopped right after Terraform applied this plan (started " + running.StartedAt.UTC().Format(time.RFC3339) + "), before it recorded the outcome. The stage's state is what this commit asks for, so the apply is reported as done; Terraform's own output was lost with the bot.",
	}}
	outs, err := w.Runner.StageOutputs(ctx, run)
	if err != nil {
		return err
	}
	for _, o := range outs {
		view.Outputs = append(view.Outputs, comments.Output{Name: o.Name, Sensitive: o.Sensitive, Value: string(o.Value)})
	}
	secrets := w.rememberOutputs(repo.FullName(), run.Stage, outs)
	parts := comments.Apply(view, w.redactor(repo.FullName()).With(secrets...))
	result := store.ApplyResult{PR: number, HeadSHA: run.HeadSHA, OK: true, Body: parts[0]}
	if err := durably(ctx, "the finished apply of "+run.Stage, func(ctx context.Context) error {
		if err := w.Store.RecordApply(ctx, repo.FullName(), run.Stage, number, run.HeadSHA, time.Now()); err != nil {
			return err
		}
		if err := w.Store.SetAppliedCommit(ctx, repo.FullName(), run.Stage, run.HeadSHA); err != nil {
			return err
		}
		for _, tr := range []string{running.TriggerID, trigger} {
			if err := w.Store.RecordApplyResult(ctx, repo.FullName(), run.Stage, tr, result); err != nil {
				return err
			}
		}
		return w.Store.FinishApply(ctx, repo.FullName(), run.Stage)
	}); err != nil {
		return err
	}
	if err := w.postParts(ctx, client, repo, number, run.Stage, parts); err != nil {
		return err
	}
	id, err := client.FindCheckRun(ctx, repo, run.HeadSHA, comments.CheckRunName(run.Stage))
	if err != nil || id == 0 {
		return err
	}
	return client.UpdateCheckRun(ctx, repo, id, gh.CheckRun{Name: comments.CheckRunName(run.Stage), HeadSHA: run.HeadSHA, Status: "completed", Conclusion: "success",
		Title: "Applied", Summary: "`" + run.Stage + "` was applied; its bot stopped before it recorded so, and the stage's state shows it."})
}
