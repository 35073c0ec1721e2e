package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/drift"
	"github.com/stagebot/stagebot/internal/runner"

	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/redact"
)

// notifyQueueTimeout bounds queueing a notification: it is a database
// insert, done even when the job that tells it was cancelled (an apply
// cut off by a shutdown is worth telling).
const notifyQueueTimeout = 10 * time.Second

// notify tells the notification targets of ev (none without a
// notifications file): its time is now when unset, and its text redacted
// with everything secret in its repository. A failure is logged, never
// returned: a notification must not fail the work it tells of.
func (w *Workflow) notify(ctx context.Context, ev notify.Event) {
	if w.Notifier == nil {
		return
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	redacted := ev.Redacted(w.redactor(ev.Repo))
	// The targets' repository filters match the name; the Notifier
	// redacts it with the bot's secrets once it has.
	redacted.Repo = ev.Repo
	qctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), notifyQueueTimeout)
	defer cancel()
	if err := w.Notifier.Notify(qctx, redacted); err != nil {
		logging.From(ctx).Warn("could not queue a notification", "event", string(ev.Kind), "stage", ev.Stage, "error", err.Error())
	}
}

// notifyApply tells of an apply's end. Its id is the apply's trigger and
// commit: a job run again after it reported tells the same event, once.
func (t *turn) notifyApply(ctx context.Context, run runner.Run, trigger string, view comments.StageApply, applyErr error) {
	ev := notify.Event{Kind: notify.ApplySucceeded, Repo: t.repo.FullName(), PR: run.PR, Stage: run.Stage, Commit: run.HeadSHA, Actor: t.asker, URL: t.prURL()}
	counts, _ := comments.Summary(view.Plan)
	ev.Summary = "Applied: " + counts.Headline() + "."
	if applyErr != nil {
		ev.Kind = notify.ApplyFailed
		ev.Summary = "Failed: " + firstLine(applyErr.Error())
	}
	// The plan's sensitive values are not the repository's: what Terraform
	// said of them is redacted here.
	ev.Summary = redact.New().With(redact.PlanValues(view.Plan)...).Redact(ev.Summary)
	ev.ID = fmt.Sprintf("%s-%s-%s-%s-%s", ev.Kind, t.repo.FullName(), run.Stage, trigger, comments.ShortSHA(run.HeadSHA))
	t.w.notify(ctx, ev)
}

// notifyDrift tells of drift a check found, or found gone.
func (t *turn) notifyDrift(ctx context.Context, results []drift.Result) {
	for _, r := range results {
		if !r.Found && !r.Gone {
			continue
		}
		ev := notify.Event{Kind: notify.DriftFound, Repo: t.repo.FullName(), Stage: r.Stage, Commit: t.base,
			Summary: fmt.Sprintf("%s has drifted: %d change(s) made outside pull requests (issue #%d).", r.Stage, r.Changes, r.Issue)}
		if r.Gone {
			ev.Kind, ev.Summary = notify.DriftGone, fmt.Sprintf("%s no longer drifts: what is deployed matches the default branch (issue #%d closed).", r.Stage, r.Issue)
		}
		ev.URL = t.issueURL(r.Issue)
		t.w.notify(ctx, ev)
	}
}

// notifyDenied tells of a plan its stage's policies deny.
func (t *turn) notifyDenied(ctx context.Context, sp StagePlanned) {
	if sp.Policy == nil || !sp.Policy.Denied() || sp.Result == nil {
		return
	}
	stage := sp.Affected.Stage.Name
	t.w.notify(ctx, notify.Event{ID: fmt.Sprintf("policy-%s-%d-%s-%s", t.repo.FullName(), t.pr.Number, stage, sp.Result.Meta.SHA256[:16]),
		Kind: notify.PolicyDenied, Repo: t.repo.FullName(), PR: t.pr.Number, Stage: stage, Commit: t.pr.HeadSHA, Actor: t.asker, URL: t.prURL(),
		Summary: fmt.Sprintf("The policies of %s deny its plan at %s: %s", stage, comments.ShortSHA(t.pr.HeadSHA), strings.Join(denials(sp.Policy), "; "))})
}

// notifyMerge tells of a merge that waits or was superseded.
func (t *turn) notifyMerge(ctx context.Context, kind notify.Kind, stage, why string) {
	what := "waits to apply"
	if kind == notify.MergeSuperseded {
		what = "was superseded"
	}
	t.w.notify(ctx, notify.Event{ID: fmt.Sprintf("%s-%s-%s-%s", kind, t.repo.FullName(), t.pr.MergeCommitSHA, stage), Kind: kind, Repo: t.repo.FullName(), PR: t.pr.Number,
		Stage: stage, Commit: t.pr.MergeCommitSHA, Actor: t.pr.MergedBy, URL: t.prURL(),
		Summary: fmt.Sprintf("The merge of #%d (%s) %s: %s", t.pr.Number, comments.ShortSHA(t.pr.MergeCommitSHA), what, why)})
}

// prURL is the turn's pull request on GitHub ("" without a web URL).
func (t *turn) prURL() string { return t.webURL("pull", t.pr.Number) }

// issueURL is issue n of the turn's repository on GitHub.
func (t *turn) issueURL(n int) string { return t.webURL("issues", n) }

// webURL is the page of number n of kind (pull, issues) of the turn's
// repository on GitHub; "" for none.
func (t *turn) webURL(kind string, n int) string {
	if n == 0 || t.w.GitHubWebURL == "" {
		return ""
	}
	return fmt.Sprintf("%s/%s/%s/%d", strings.TrimSuffix(t.w.GitHubWebURL, "/"), t.repo.FullName(), kind, n)
}

// firstLine is s up to its first line break.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
