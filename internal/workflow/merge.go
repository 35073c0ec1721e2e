package workflow

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// ErrApplyRunning means another apply of a stage runs now; the job is tried
// again later.
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

// applyOnMerge plans the merge commit and applies every affected stage in
// order, posting the results on the PR and as check runs on the merge
// commit. A stage already applied from the PR shows "No changes".
func (w *Workflow) applyOnMerge(ctx context.Context, client GitHub, repo gh.Repo, number int) error {
	log := logging.From(ctx)
	pr, err := client.PullRequest(ctx, repo, number)
	if err != nil {
		return err
	}
	if !pr.Merged || pr.MergeCommitSHA == "" {
		return nil
	}
	cfg, err := w.repoConfig(ctx, client, repo)
	if err != nil || cfg == nil || !cfg.Apply.OnMergeEnabled() {
		return err
	}
	mu := w.merges.get(repo.FullName())
	mu.Lock()
	defer mu.Unlock()

	merged := pr
	merged.HeadSHA = pr.MergeCommitSHA
	ws, affected, err := w.affected(ctx, client, repo, merged, cfg)
	if errors.Is(err, errReported) {
		return nil
	}
	if err != nil {
		return err
	}
	trigger := "merge-" + pr.MergeCommitSHA
	for _, a := range affected {
		a.WaitingFor = nil // applied in order: upstream is done by now
		stage := a.Stage.Name
		if owner, err := w.Store.LockOwner(ctx, repo.FullName(), stage); err != nil {
			return err
		} else if owner != 0 && owner != pr.Number {
			msg := fmt.Sprintf("%s\n### 🔒 stagebot did not apply `%s` on merge\n\nStage `%s` is locked by #%d, which applied it and is not merged or closed. Apply this change after #%d: merge or close it (or `/unlock %s` there), then push or re-run the `stagebot/%s` check on %s.\n",
				comments.Marker(stage), stage, stage, owner, owner, stage, stage, comments.ShortSHA(pr.MergeCommitSHA))
			return w.postParts(ctx, client, repo, pr.Number, stage, []string{msg})
		}
		done, err := w.mergeStage(ctx, client, repo, pr, cfg, ws, a, trigger)
		if err != nil {
			return err
		}
		if !done {
			log.Warn("apply on merge stopped", "stage", stage)
			break
		}
	}
	released, err := w.Store.Unlock(ctx, repo.FullName(), pr.Number)
	log.Info("merge applied", "stages", len(affected), "released", released)
	return err
}

// mergeStage plans and applies one stage at the merge commit. It reports
// whether the next stage may go on.
func (w *Workflow) mergeStage(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo, ws string, a stages.Affected, trigger string) (bool, error) {
	stage, sha := a.Stage.Name, pr.MergeCommitSHA
	checkID, err := w.startCheck(ctx, client, repo, sha, stage)
	if err != nil {
		return false, err
	}
	target := PlanTarget{Repo: repo.FullName(), PR: pr.Number, Root: ws, HeadSHA: sha, BaseSHA: pr.BaseSHA}
	sp := PlanStages(ctx, w.Runner, target, []stages.Affected{a}, w.redactor(repo.FullName()))[0]
	if sp.Err != nil {
		sp.Check.Summary = "The plan of the merge commit failed; nothing was applied. " + sp.Check.Summary
		return false, w.postStage(ctx, client, repo, gh.PullRequest{Number: pr.Number, HeadSHA: sha}, sp, checkID)
	}
	note := fmt.Sprintf("Applied on merge of #%d (merge commit %s).", pr.Number, comments.ShortSHA(sha))
	if !sp.Result.HasChanges {
		view := comments.StageApply{Stage: stage, HeadSHA: sha, Plan: sp.Result.JSON, Notes: []string{note + " The plan of the merge commit has no changes: the stage was already applied from the pull request."}}
		if err := w.postParts(ctx, client, repo, pr.Number, stage, comments.Apply(view, w.redactor(repo.FullName()))); err != nil {
			return false, err
		}
		return true, client.UpdateCheckRun(ctx, repo, checkID, gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: sha, Status: "completed", Conclusion: "neutral", Title: "No changes", Summary: "The merge commit changes nothing in `" + stage + "`."})
	}
	run := runner.Run{Repo: repo.FullName(), PR: pr.Number, Stage: stage, Root: ws, Dir: filepath.Join(ws, filepath.FromSlash(a.Stage.Dir)), HeadSHA: sha, BaseSHA: pr.BaseSHA, BackendConfig: a.Stage.BackendConfig}
	notes, err := w.syncSecrets(ctx, cfg, run, ws, stage)
	if err != nil {
		msg := fmt.Sprintf("%s\n### ❌ stagebot did not apply `%s` on merge\n\nThe Kubernetes secret it needs could not be written: %s\n", comments.Marker(stage), stage, err)
		return false, w.postParts(ctx, client, repo, pr.Number, stage, []string{msg})
	}
	c, _, err := w.claimApply(ctx, repo, pr.Number, run, trigger)
	switch {
	case err != nil:
		return false, err
	case c == claimBusy:
		return false, fmt.Errorf("apply stage %s on merge of #%d: %w", stage, pr.Number, ErrApplyRunning)
	case c == interrupted:
		msg := fmt.Sprintf("%s\n### ⚠️ stagebot: the apply of `%s` on merge was interrupted\n\nThe bot stopped during it, and does not apply again on its own. Check the stage's state, then apply the merge commit %s by hand or with a new pull request.\n", comments.Marker(stage), stage, comments.ShortSHA(sha))
		return false, w.postParts(ctx, client, repo, pr.Number, stage, []string{msg})
	}
	view := comments.StageApply{Stage: stage, HeadSHA: sha, Plan: sp.Result.JSON, Notes: append([]string{note}, notes...)}
	return w.runApply(ctx, client, repo, pr.Number, run, checkID, view,
		checkText{"Applied on merge", "`" + stage + "` was applied from the plan of the merge commit."},
		checkText{"Apply on merge failed", "The apply of `" + stage + "` on merge failed; later stages were not applied."})
}
