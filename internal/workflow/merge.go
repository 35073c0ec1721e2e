package workflow

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/stagebot/stagebot/internal/comments"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// ErrApplyRunning means another apply of a stage runs now.
var ErrApplyRunning = errors.New("another apply of the stage is running")

// repoLocks serialises merges of one repository in this process; across
// replicas the running-apply record keeps two applies of a stage apart.
type repoLocks struct {
	mu    sync.Mutex
	locks map[string]*sync.Mutex
}

func (r *repoLocks) get(repo string) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.locks == nil {
		r.locks = map[string]*sync.Mutex{}
	}
	if r.locks[repo] == nil {
		r.locks[repo] = &sync.Mutex{}
	}
	return r.locks[repo]
}

// applyOnMerge applies a merged PR's merge commit, when it may: it was
// merged into the default branch, and its head met the apply rules of the
// merge commit's first parent (see mergeRules). A merge commit is applied
// once, however many deliveries announce it. Every merge that is not
// applied gets a comment saying why.
func (w *Workflow) applyOnMerge(ctx context.Context, installation int64, repo gh.Repo, number int) error {
	pr, err := w.client(installation).PullRequest(ctx, repo, number)
	if err != nil {
		return err
	}
	if !pr.Merged || pr.MergeCommitSHA == "" {
		return nil
	}
	// why says why the merge cannot be judged, and so is refused, under
	// the rules the default branch has now.
	var t *turn
	var why, next string
	if pr.BaseRef != repo.DefaultBranch {
		why = fmt.Sprintf("it was merged into `%s`, not into the default branch `%s`. stagebot applies only what reaches `%s`.", pr.BaseRef, repo.DefaultBranch, repo.DefaultBranch)
		next = fmt.Sprintf("merge the change into `%s` through a pull request.", repo.DefaultBranch)
	} else {
		t, err = w.mergeTurn(ctx, installation, repo, pr)
		var unclear errRulesUnclear
		switch {
		case errors.As(err, &unclear):
			why, next = unclear.why+".", "apply the change with `/apply` in a new pull request."
		case err != nil:
			return err
		}
	}
	if why != "" {
		if t, err = w.newTurn(ctx, installation, repo, pr); err != nil {
			return err
		}
	}
	cfg := t.cfg
	if cfg == nil || !cfg.Apply.OnMergeEnabled() {
		return nil
	}
	m, first, err := w.Store.ClaimMerge(ctx, repo.FullName(), pr.MergeCommitSHA, pr.Number)
	switch {
	case err != nil:
		return err
	case !first && m.Done():
		logging.From(ctx).Info("merge already handled", "merge", pr.MergeCommitSHA, "state", m.State)
		return nil
	case why != "":
		return w.refuseMerge(ctx, t, why, next)
	}
	if why, next, err := t.mergeRules(ctx); err != nil {
		return err
	} else if why != "" {
		return w.refuseMerge(ctx, t, why, next)
	}
	if err := w.runMerge(ctx, t); err != nil {
		return err
	}
	// An apply ended: merges that waited for it may go on.
	return w.resumeMerges(ctx, installation, repo)
}

// refuseMerge tells the PR why its merge was not applied, on the PR and on
// every affected stage's check run of the merge commit, and records it.
func (w *Workflow) refuseMerge(ctx context.Context, t *turn, why, next string) error {
	client, repo, pr := t.client, t.repo, t.pr
	logging.From(ctx).Info("merge not applied", "merge", pr.MergeCommitSHA, "why", why)
	if _, err := client.UpsertComment(ctx, repo, pr.Number, comments.MergeMarker, comments.MergeRefused(pr.Number, pr.MergeCommitSHA, why, next)); err != nil {
		return err
	}
	if err := w.mergeChecks(ctx, t, "failure", "Not applied on merge", "Nothing was applied: "+why); err != nil {
		return err
	}
	if err := w.Store.SetMerge(ctx, repo.FullName(), pr.MergeCommitSHA, store.MergeRefused, why); err != nil {
		return err
	}
	_, err := w.Store.Unlock(ctx, repo.FullName(), pr.Number)
	return err
}

// mergeChecks sets a check run on the merge commit for each stage the PR
// affects (by its changed files), to say what became of the merge.
func (w *Workflow) mergeChecks(ctx context.Context, t *turn, conclusion, title, summary string) error {
	client, repo, pr, cfg := t.client, t.repo, t.pr, t.cfg
	files, err := client.ChangedFiles(ctx, repo, pr.Number)
	if err != nil {
		return err
	}
	changed := map[string]bool{}
	for _, f := range files {
		changed[f.Path], changed[f.PreviousPath] = true, true
	}
	for _, s := range cfg.Stages {
		if !stages.Touches(s, changed) {
			continue
		}
		cr := gh.CheckRun{Name: comments.CheckRunName(s.Name), HeadSHA: pr.MergeCommitSHA, Status: "completed", Conclusion: conclusion, Title: title, Summary: summary}
		if conclusion == "" {
			cr.Status = "queued"
		}
		if _, err := gh.UpsertCheckRun(ctx, client, repo, 0, cr); err != nil {
			return err
		}
	}
	return nil
}

// runMerge applies a merge commit stage by stage: only while it is the tip
// of the default branch, only where it descends from the commit each stage
// was last applied from, and only when no other PR holds a stage's lock.
// A merge blocked by a lock or a running apply waits in the database and
// runs again when locks are released (resumeMerges).
func (w *Workflow) runMerge(ctx context.Context, t *turn) error {
	client, repo, pr, cfg := t.client, t.repo, t.pr, t.cfg
	log := logging.From(ctx).With("merge", pr.MergeCommitSHA)
	mu := w.merges.get(repo.FullName())
	mu.Lock()
	defer mu.Unlock()
	sha, name := pr.MergeCommitSHA, repo.FullName()
	src := t.src
	tip, err := w.Runner.BranchTip(ctx, src, repo.DefaultBranch)
	if err != nil {
		return err
	}
	if tip != sha {
		return w.supersede(ctx, t, tip,
			fmt.Sprintf("`%s` has moved on to %s, which contains this change: that commit is applied instead, and this one never is, so no newer change is rolled back.", repo.DefaultBranch, comments.ShortSHA(tip)))
	}
	merged := pr
	merged.HeadSHA = sha
	ws, affected, _, err := w.affected(ctx, client, repo, merged, cfg)
	if errors.Is(err, errReported) {
		return w.Store.SetMerge(ctx, name, sha, store.MergeStopped, "the merge commit's tree was refused")
	}
	if err != nil {
		return err
	}
	if why, err := t.mergeAppliers(ctx, StageNames(affected)); err != nil {
		return err
	} else if why != "" {
		return w.refuseMerge(ctx, t, why, "someone who may apply those stages approves the change in a new pull request, or merges it.")
	}
	if why, err := t.mergeProviderCode(ctx, sha, affected); err != nil {
		return err
	} else if why != "" {
		return w.refuseMerge(ctx, t, why, "get the change approved, by a writer who did not push it, in a new pull request, then merge that.")
	}
	for _, a := range affected {
		if a.Problem != "" {
			continue // nothing to plan: the PR showed why
		}
		a.WaitingFor = nil // applied in order: upstream is done by now
		stage := a.Stage.Name
		last, err := w.Store.AppliedCommit(ctx, name, stage)
		if err != nil {
			return err
		}
		if last != "" {
			ok, err := w.Runner.IsAncestor(ctx, src, last, sha)
			if err != nil {
				return err
			}
			if !ok {
				return w.supersede(ctx, t, last,
					fmt.Sprintf("`%s` was last applied from %s, which this merge commit does not contain: applying it would roll that back.", stage, comments.ShortSHA(last)))
			}
		}
		if owner, err := w.Store.LockOwner(ctx, name, stage); err != nil {
			return err
		} else if owner != 0 && owner != pr.Number {
			return w.waitMerge(ctx, t, stage,
				fmt.Sprintf("stage `%s` is locked by #%d, which applied it and is not merged or closed. This merge is applied as soon as #%d is merged or closed, or its lock released (`/unlock %s` there); nothing needs doing here.", stage, owner, owner, stage))
		}
		outcome, err := w.mergeStage(ctx, t, ws, a, "merge-"+sha)
		if err != nil {
			return err
		}
		switch outcome {
		case stageBusy:
			return w.waitMerge(ctx, t, stage,
				fmt.Sprintf("another apply of `%s` is running. This merge is applied when it ends; nothing needs doing here.", stage))
		case stageStopped:
			log.Warn("apply on merge stopped", "stage", stage)
			if err := w.Store.SetMerge(ctx, name, sha, store.MergeStopped, "stage "+stage+" was not applied"); err != nil {
				return err
			}
			_, err := w.Store.Unlock(ctx, name, pr.Number)
			return err
		}
	}
	if err := w.Store.SetMerge(ctx, name, sha, store.MergeApplied, ""); err != nil {
		return err
	}
	released, err := w.Store.Unlock(ctx, name, pr.Number)
	log.Info("merge applied", "stages", len(affected), "released", released)
	return err
}

// supersede records that a newer commit is applied instead of this merge.
func (w *Workflow) supersede(ctx context.Context, t *turn, newer, why string) error {
	client, repo, pr := t.client, t.repo, t.pr
	logging.From(ctx).Info("merge superseded", "merge", pr.MergeCommitSHA, "by", newer)
	if _, err := client.UpsertComment(ctx, repo, pr.Number, comments.MergeMarker, comments.MergeSuperseded(pr.Number, pr.MergeCommitSHA, newer, why)); err != nil {
		return err
	}
	if err := w.mergeChecks(ctx, t, "neutral", "Superseded by "+comments.ShortSHA(newer), why); err != nil {
		return err
	}
	if err := w.Store.SetMerge(ctx, repo.FullName(), pr.MergeCommitSHA, store.MergeSuperseded, "superseded by "+newer); err != nil {
		return err
	}
	t.notifyMerge(ctx, notify.MergeSuperseded, "", why)
	_, err := w.Store.Unlock(ctx, repo.FullName(), pr.Number)
	return err
}

// waitMerge records that a merge waits, and shows it on the PR and on the
// merge commit's check runs. The job ends: the merge is never dropped, it
// runs again when a lock is released or an apply ends.
func (w *Workflow) waitMerge(ctx context.Context, t *turn, stage, why string) error {
	client, repo, pr := t.client, t.repo, t.pr
	logging.From(ctx).Info("merge waits", "merge", pr.MergeCommitSHA, "stage", stage)
	if err := w.Store.SetMerge(ctx, repo.FullName(), pr.MergeCommitSHA, store.MergePending, why); err != nil {
		return err
	}
	t.notifyMerge(ctx, notify.MergeWaiting, stage, why)
	if err := w.postParts(ctx, client, repo, pr.Number, stage, []string{comments.MergeWaits(stage, pr.Number, pr.MergeCommitSHA, why)}); err != nil {
		return err
	}
	return w.mergeChecks(ctx, t, "", "Waiting to apply", why)
}

// resumeMerges runs the merges of a repository that wait, oldest first,
// after a lock was released or an apply ended, each in its own merge turn
// (the rules of its merge commit's first parent). One that still cannot go
// on waits again; one that is no longer the tip is superseded.
func (w *Workflow) resumeMerges(ctx context.Context, installation int64, repo gh.Repo) error {
	pending, err := w.Store.PendingMerges(ctx, repo.FullName())
	if err != nil {
		return err
	}
	for _, m := range pending {
		pr, err := w.client(installation).PullRequest(ctx, repo, m.PR)
		if err != nil {
			return err
		}
		t, err := w.mergeTurn(ctx, installation, repo, pr)
		if err != nil || t.cfg == nil {
			return err
		}
		logging.From(ctx).Info("resuming a merge that waited", "merge", m.SHA, "pr", m.PR)
		if err := w.runMerge(ctx, t); err != nil {
			return err
		}
	}
	return nil
}

// stageOutcome is what became of one stage of a merge.
type stageOutcome int

const (
	stageDone    stageOutcome = iota // applied, or nothing to apply
	stageStopped                     // failed or interrupted: later stages wait for a person
	stageBusy                        // another apply of the stage runs
)

// mergeStage plans one stage at the merge commit, shows the plan, and
// applies it.
func (w *Workflow) mergeStage(ctx context.Context, t *turn, ws string, a stages.Affected, trigger string) (stageOutcome, error) {
	client, repo, pr, cfg := t.client, t.repo, t.pr, t.cfg
	stage, sha := a.Stage.Name, pr.MergeCommitSHA
	if prev, ok, err := w.Store.ApplyResultOf(ctx, repo.FullName(), stage, trigger); err != nil {
		return stageStopped, err
	} else if ok {
		// This merge applied the stage already (the job ran again): report
		// that apply, never apply twice.
		if err := w.reportRecorded(ctx, client, repo, pr.Number, stage, sha, trigger, prev); err != nil {
			return stageStopped, err
		}
		if prev.OK {
			return stageDone, nil
		}
		return stageStopped, nil
	}
	run := stages.Run(a.Stage, runner.Run{Repo: repo.FullName(), PR: pr.Number, Root: ws, HeadSHA: sha, BaseSHA: pr.BaseSHA, Redact: w.redactor(repo.FullName()), Trusted: true})
	// The stage is claimed before it is planned: an apply this merge
	// started and a crash cut off may have written its resources already,
	// so that a new plan would show nothing to do and hide it.
	c, running, err := w.claimApply(ctx, repo, pr.Number, run, trigger)
	switch {
	case err != nil:
		return stageStopped, err
	case c == claimBusy:
		return stageBusy, nil
	case c == interrupted:
		return stageStopped, w.reportInterrupted(ctx, client, repo, pr.Number, run, running)
	case c == finished:
		return stageDone, w.reportFinished(ctx, client, repo, pr.Number, run, trigger, running)
	}
	claimed := true
	defer func() {
		if claimed {
			w.Store.FinishApply(ctx, repo.FullName(), stage)
		}
	}()
	checkID, err := w.startCheck(ctx, client, repo, sha, stage)
	if err != nil {
		return stageStopped, err
	}
	target := PlanTarget{Repo: repo.FullName(), PR: pr.Number, Root: ws, HeadSHA: sha, BaseSHA: pr.BaseSHA, Trusted: true, Approved: map[string]store.PolicyCheck{}, RunURL: w.runURLs()}
	if target.RemovedVars, err = w.removedVars(ctx, client, repo, pr.BaseSHA, []stages.Affected{a}); err != nil {
		return stageStopped, err
	}
	if target.Policies, err = t.policies(ctx, []string{stage}); err != nil {
		return stageStopped, err
	}
	if target.Providers, err = t.providerCodes(ctx, sha, []stages.Affected{a}); err != nil {
		return stageStopped, err
	}
	if ap, ok, err := w.Store.ApprovedAtHead(ctx, repo.FullName(), pr.Number, stage, pr.HeadSHA); err != nil {
		return stageStopped, err
	} else if ok {
		target.Approved[stage] = ap
	}
	sp := t.plan(ctx, target, []stages.Affected{a})[0]
	shown := gh.PullRequest{Number: pr.Number, HeadSHA: sha}
	if sp.Err != nil {
		sp.Check.Summary = "The plan of the merge commit failed; nothing was applied. " + sp.Check.Summary
		return stageStopped, w.postStage(ctx, client, repo, shown, sp, checkID, nil)
	}
	if sp.Result == nil { // an instance deleted that never was: nothing to do
		return stageDone, w.postStage(ctx, client, repo, shown, sp, checkID, nil)
	}
	if sp.Result.HasChanges && sp.Policy != nil && sp.Policy.Blocked() {
		sp.Check.Summary = "Nothing was applied on merge. " + sp.Check.Summary
		if err := w.postStage(ctx, client, repo, shown, sp, checkID, nil); err != nil {
			return stageStopped, err
		}
		_, err := client.UpsertComment(ctx, repo, pr.Number, comments.MergeMarker, comments.MergePolicyDenied(stage, sha, pr.HeadSHA))
		return stageStopped, err
	}
	note := fmt.Sprintf("Applied on merge of #%d (merge commit %s).", pr.Number, comments.ShortSHA(sha))
	if !sp.Result.HasChanges {
		view := comments.StageApply{Stage: stage, HeadSHA: sha, Plan: sp.Result.JSON, Notes: []string{note + " The plan of the merge commit has no changes: the stage was already applied from the pull request."}}
		if err := w.postParts(ctx, client, repo, pr.Number, stage, comments.Apply(view, w.redactor(repo.FullName()))); err != nil {
			return stageStopped, err
		}
		if err := w.Store.SetAppliedCommit(ctx, repo.FullName(), stage, sha); err != nil {
			return stageStopped, err
		}
		return stageDone, client.UpdateCheckRun(ctx, repo, checkID, gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: sha, Status: "completed", Conclusion: "neutral", Title: "No changes", Summary: "The merge commit changes nothing in `" + stage + "`."})
	}
	// The plan of the merge commit is shown before it is applied: what is
	// applied is always a plan that was posted.
	if err := w.postStage(ctx, client, repo, shown, sp, checkID, nil); err != nil {
		return stageStopped, err
	}
	notes, err := w.syncSecrets(ctx, cfg, run, ws, stage)
	if err != nil {
		return stageStopped, w.postParts(ctx, client, repo, pr.Number, stage, []string{comments.MergeSecretFailed(stage, err)})
	}
	claimed = false // t.apply ends the claim once Terraform has exited
	view := comments.StageApply{Stage: stage, HeadSHA: sha, Plan: sp.Result.JSON, Notes: append([]string{note}, notes...)}
	ok, err := t.apply(ctx, run, trigger, checkID, view,
		checkText{"Applied on merge", "`" + stage + "` was applied from the plan of the merge commit."},
		checkText{"Apply on merge failed", "The apply of `" + stage + "` on merge failed; later stages were not applied."})
	if err != nil || !ok {
		return stageStopped, err
	}
	return stageDone, nil
}
