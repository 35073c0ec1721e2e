package workflow

import (
	"context"
	"errors"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// affected checks out the PR head and works out the stages it affects; a
// stage this PR already applied at this head no longer holds others back.
// It also returns the paths the PR changes (old and new names). A push
// past what one push may cost is reported (errReported) or waits (a
// queue.Snooze) before any work per stage or instance: see limits.go.
func (w *Workflow) affected(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo) (string, []stages.Affected, []string, error) {
	if err := w.checkChanges(ctx, client, repo, pr); err != nil {
		return "", nil, nil, err
	}
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
	src := runner.Source{URL: clone.URL, Token: clone.Token}
	if err := w.checkTree(ctx, client, repo, pr, src); err != nil {
		return "", nil, nil, err
	}
	ws := w.Runner.WorkspaceDir(repo.FullName(), pr.Number, pr.HeadSHA)
	if pr.Merged && pr.HeadSHA == pr.MergeCommitSHA {
		// A merge is reviewed content, run trusted: never in the checkout
		// the PR's own runs wrote, even when the merge commit is its head.
		ws = w.Runner.WorkspaceDir(repo.FullName(), pr.Number, "merge-"+pr.HeadSHA)
	}
	if err := w.Runner.Checkout(ctx, src, pr.HeadSHA, ws); err != nil {
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
	if err := w.checkAffected(ctx, client, repo, pr, affected); err != nil {
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
	if _, err := client.UpsertComment(ctx, repo, pr.Number, comments.TreeMarker, comments.TreeRefused(pr.HeadSHA, te.Reason)); err != nil {
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
