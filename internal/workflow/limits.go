package workflow

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// What one push may cost is bounded, in affected: every path that plans or
// applies a PR's or a merge's commit (autoplan, /plan, a re-run check,
// /apply, a merge) works out what it affects there, and nothing per stage
// or instance happens before. The limits are of the push, whatever a
// command names: a /plan of one instance of a push past them is refused
// too.

// Limits bound what one push may cost. A zero field is no limit.
type Limits struct {
	// Instances bounds the instances affected, over all stages.
	Instances int
	// Stages bounds the stages affected (a stage with instances once).
	Stages int
	// ChangedFiles bounds the files the PR changes (GitHub lists at most
	// 3,000 of them).
	ChangedFiles int
	// TreeFiles bounds the files of the commit's tree, counted before it
	// is checked out.
	TreeFiles int
	// QuotaShare is the percentage of the installation's remaining GitHub
	// API quota one push may spend; a push that needs more waits until
	// the quota is renewed.
	QuotaShare int
}

func (l Limits) check() error {
	if l.Instances < 0 || l.Stages < 0 || l.ChangedFiles < 0 || l.TreeFiles < 0 || l.QuotaShare < 0 || l.QuotaShare > 100 {
		return fmt.Errorf("workflow: limits %+v must not be negative, and the quota share at most 100", l)
	}
	return nil
}

// over returns the limit count goes past, nil when it does not (or there
// is no limit).
func over(count, max int, what, setting string) *comments.Limit {
	if max == 0 || count <= max {
		return nil
	}
	return &comments.Limit{What: what, Count: count, Max: max, Setting: config.EnvName(setting)}
}

// changedFiles is the limit the PR's changed files go past, as GitHub
// counts them: checked before they are listed, 100 a call.
func (l Limits) changedFiles(pr gh.PullRequest) *comments.Limit {
	return over(pr.ChangedFiles, l.ChangedFiles, "changed files", "max-changed-files")
}

// affected is the limit the affected stages and instances go past.
func (l Limits) affected(affected []stages.Affected) *comments.Limit {
	instances, names := 0, map[string]bool{}
	for _, a := range affected {
		if a.Stage.Base != "" {
			instances++
		}
		names[baseName(a)] = true
	}
	if o := over(len(names), l.Stages, "changed stages", "max-stages"); o != nil {
		return o
	}
	return over(instances, l.Instances, "instances to plan", "max-instances")
}

func baseName(a stages.Affected) string {
	if a.Stage.Base != "" {
		return a.Stage.Base
	}
	return a.Stage.Name
}

// checkChanges refuses a PR that changes more files than the limit, before
// they are listed.
func (w *Workflow) checkChanges(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest) error {
	if o := w.Limits.changedFiles(pr); o != nil {
		return w.reportLimit(ctx, client, repo, pr, *o)
	}
	return nil
}

// checkTree refuses a commit whose tree holds more files than the limit,
// before it is checked out.
func (w *Workflow) checkTree(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, src runner.Source) error {
	if w.Limits.TreeFiles == 0 {
		return nil
	}
	n, err := w.Runner.TreeFiles(ctx, src, pr.HeadSHA)
	if err != nil {
		return err
	}
	if o := over(n, w.Limits.TreeFiles, "files in its tree", "max-tree-files"); o != nil {
		return w.reportLimit(ctx, client, repo, pr, *o)
	}
	return nil
}

// checkAffected refuses a push that affects more stages or instances than
// the limits, and makes one that would spend more than its share of the
// installation's GitHub API quota wait (a queue.Snooze).
func (w *Workflow) checkAffected(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, affected []stages.Affected) error {
	if o := w.Limits.affected(affected); o != nil {
		return w.reportLimit(ctx, client, repo, pr, *o)
	}
	return w.waitForQuota(ctx, client, repo, pr, affected)
}

// reportLimit tells the PR, in one comment and one failed check run, that
// its push went past a limit. Nothing of it is planned or applied.
func (w *Workflow) reportLimit(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, o comments.Limit) error {
	logging.From(ctx).Warn("push over a limit: not planned", "sha", pr.HeadSHA, "counted", o.What, "count", o.Count, "limit", o.Max, "setting", o.Setting)
	if _, err := client.UpsertComment(ctx, repo, pr.Number, comments.LimitMarker, comments.OverLimit(pr.HeadSHA, o)); err != nil {
		return err
	}
	out := comments.OverLimitCheck(o)
	cr := gh.CheckRun{Name: comments.CheckRunName("apply"), HeadSHA: pr.HeadSHA, Status: out.Status, Conclusion: out.Conclusion, Title: out.Title, Summary: out.Summary}
	if _, err := gh.UpsertCheckRun(ctx, client, repo, 0, cr); err != nil {
		return err
	}
	return errReported
}

// pushCalls estimates the GitHub API calls planning affected takes: about
// two per check run (made, then completed; instances past checkRuns share
// their stage's, see sharedChecks) and per comment (found, then written),
// and a few for the PR's apply check and listings.
func pushCalls(affected []stages.Affected, checkRuns int) int {
	names := map[string]bool{}
	for _, a := range affected {
		names[baseName(a)] = true
	}
	checks := len(affected)
	for _, n := range instancesOf(affected) {
		if n >= checkRuns {
			checks -= n - 1
		}
	}
	return 2*checks + 2*len(names) + 4
}

// quotaWait is how long a push that needs calls waits for GitHub's API
// quota, at share percent of what rate leaves: 0 when it may go on now. A
// push that even a renewed quota's share would not cover goes on too (the
// limits bound it): it would wait forever.
func quotaWait(calls, share int, rate gh.Rate, now time.Time) time.Duration {
	if share == 0 || calls*100 <= rate.Remaining*share || calls*100 > rate.Limit*share {
		return 0
	}
	// GitHub gives the reset in whole seconds; a second more finds the
	// new quota in place.
	return max(rate.Reset.Sub(now), 0) + time.Second
}

// waitForQuota makes a push that would spend more than its share of the
// installation's remaining GitHub API quota wait until GitHub renews it,
// and says so on the PR.
func (w *Workflow) waitForQuota(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, affected []stages.Affected) error {
	rate, ok := client.RateLimit()
	if !ok {
		return nil // not known: no answer reported it yet, or it was renewed
	}
	calls := pushCalls(affected, w.InstanceCheckRuns)
	wait := quotaWait(calls, w.Limits.QuotaShare, rate, time.Now())
	if wait == 0 {
		return nil
	}
	log := logging.From(ctx)
	log.Info("push waits for GitHub's API quota", "sha", pr.HeadSHA, "calls", calls, "remaining", rate.Remaining, "reset", rate.Reset, "wait", wait.String())
	body := comments.QuotaWait(pr.HeadSHA, calls, rate.Remaining, w.Limits.QuotaShare, rate.Reset, config.EnvName("github-quota-share"))
	if _, err := client.UpsertComment(ctx, repo, pr.Number, comments.LimitMarker, body); err != nil {
		// The wait matters more than saying so: the quota may be spent.
		log.Warn("could not say the push waits", "error", err.Error())
	}
	return queue.Snooze(wait)
}

// withinLimits edits the PR's comment that held an earlier push back, if
// there is one, now that a push is planned. existing are the PR's
// comments.
func (w *Workflow) withinLimits(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, existing []gh.Comment) error {
	for _, c := range existing {
		if c.IsBot && strings.Contains(c.Body, comments.LimitMarker) && comments.LimitHeld(c.Body) {
			if err := client.EditComment(ctx, repo, c.ID, comments.WithinLimits(pr.HeadSHA)); err != nil {
				return err
			}
		}
	}
	return nil
}
