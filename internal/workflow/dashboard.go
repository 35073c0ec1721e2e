package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/comments"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/runner"
)

// What the dashboard (internal/web) asks of the workflow.

// Redact keeps every secret known for a repository out of text.
func (w *Workflow) Redact(repo, text string) string { return w.redactor(repo).Redact(text) }

// ApplyStatus says, for each stage of a PR with a saved plan (planned),
// whether `/apply` of it would go ahead now ("") or why not: another PR's
// lock, an apply requirement (approved, mergeable, fresh) or a policy
// denial, asked of GitHub as /apply asks.
func (w *Workflow) ApplyStatus(ctx context.Context, repoName string, number int, planned []string) (map[string]string, error) {
	repo, installation, err := w.knownRepo(ctx, repoName)
	if err != nil || installation == 0 {
		return nil, err
	}
	pr, err := w.client(installation).PullRequest(ctx, repo, number)
	if err != nil {
		return nil, err
	}
	t, err := w.newTurn(ctx, installation, repo, pr)
	if errors.Is(err, errNotServed) {
		return nil, nil // nothing to say of a repository it does not deploy
	}
	if err != nil || t.cfg == nil {
		return nil, err
	}
	cfg := t.cfg
	out := map[string]string{}
	for _, stage := range planned {
		label := "/apply " + stage
		run := runner.Run{Repo: repoName, PR: number, Stage: stage, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA}
		owner, err := w.Store.LockOwner(ctx, repoName, stage)
		switch {
		case err != nil:
			return nil, err
		case pr.State != "open":
			out[stage] = "the pull request is closed."
		case owner != 0 && owner != number:
			out[stage] = fmt.Sprintf("#%d holds the lock of %s.", owner, stage)
		default:
			if r := t.checkRequirements(ctx, run, label); r != nil {
				out[stage] = r.Why
			} else if r := w.checkPolicies(ctx, cfg, run, label); r != nil {
				out[stage] = r.Why
			} else {
				out[stage] = ""
			}
		}
	}
	return out, nil
}

// knownRepo is a repository the bot deploys, and its installation (0 when
// it deploys no such repository).
func (w *Workflow) knownRepo(ctx context.Context, repoName string) (gh.Repo, int64, error) {
	repos, err := w.Store.Repos(ctx)
	if err != nil {
		return gh.Repo{}, 0, err
	}
	for _, r := range repos {
		if r.Repo == repoName {
			owner, name, _ := strings.Cut(r.Repo, "/")
			return gh.Repo{Owner: owner, Name: name, DefaultBranch: r.DefaultBranch}, r.InstallationID, nil
		}
	}
	return gh.Repo{}, 0, nil
}

// ReleaseLock releases the lock a PR holds on a stage for user, from the
// dashboard: with the rights /unlock of the stage needs, telling the PR,
// and going on with merges that waited for it. refusal says why not.
func (w *Workflow) ReleaseLock(ctx context.Context, repoName, stage, user string) (refusal string, err error) {
	repo, installation, err := w.knownRepo(ctx, repoName)
	if err != nil {
		return "", err
	}
	if installation == 0 || (w.Serves != nil && !w.Serves(repoName)) {
		return "stagebot does not deploy " + repoName + ".", nil
	}
	client := newAskOnce(w.client(installation))
	cfg, err := w.repoConfig(ctx, client, repo)
	var cerr configError
	switch {
	case errors.As(err, &cerr):
		return fmt.Sprintf("stagebot.yaml on %s is invalid: %v", repo.DefaultBranch, cerr.err), nil
	case err != nil:
		return "", err
	case cfg == nil || cfg.Stage(stage) == nil:
		return fmt.Sprintf("%s has no stage %s.", repoName, stage), nil
	}
	owner, err := w.Store.LockOwner(ctx, repoName, stage)
	if err != nil {
		return "", err
	}
	if owner == 0 {
		return fmt.Sprintf("no pull request holds the lock on %s.", stage), nil
	}
	label := "release of the lock on " + stage
	r, err := w.mayApply(ctx, client, repo, user, cfg, stage, label)
	if err != nil {
		return "", err
	}
	if r != nil {
		return r.Why, nil
	}
	released, err := w.Store.Unlock(ctx, repoName, owner, stage)
	if err != nil || len(released) == 0 {
		return "", err
	}
	now := time.Now()
	if _, err := client.UpsertComment(ctx, repo, owner, comments.ReleasedMarker(stage, now), comments.Released(stage, user, now)); err != nil {
		return "", err
	}
	return "", w.resumeMerges(ctx, installation, repo)
}
