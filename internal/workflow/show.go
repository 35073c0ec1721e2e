package workflow

// What a PR shows of its stages: each stage's comment (one, in parts when
// long, edited in place; an instance's section of its stage's), its check
// run, and the stagebot/apply check run of the head.

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/store"
)

// applyCheck keeps the stagebot/apply check run of the PR's head: which
// affected stages still wait for /apply, and which are applied, from what
// each stage's plan left to do (store outcomes).
func (w *Workflow) applyCheck(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo) error {
	outcomes, err := w.Store.Outcomes(ctx, repo.FullName(), pr.Number)
	if err != nil {
		return err
	}
	var waiting, applied, nothing []string
	for _, unit := range unitsInOrder(cfg, outcomes) {
		done, err := w.appliedHere(ctx, repo, unit, pr)
		if err != nil {
			return err
		}
		switch {
		case done:
			applied = append(applied, unit)
		case outcomes[unit] == store.OutcomeNothing:
			nothing = append(nothing, unit)
		default:
			waiting = append(waiting, unit)
		}
	}
	if len(waiting)+len(applied)+len(nothing) == 0 {
		return nil
	}
	cr := gh.CheckRun{Name: "stagebot/apply", HeadSHA: pr.HeadSHA, Status: "completed", Conclusion: "success", Title: "All stages applied or unchanged"}
	var b strings.Builder
	if len(waiting) > 0 {
		cr.Conclusion = "neutral"
		cr.Title = fmt.Sprintf("%d stage(s) wait for /apply", len(waiting))
		fmt.Fprintf(&b, "Waiting for `/apply`: `%s`.\n\n", strings.Join(waiting, "`, `"))
	}
	if len(applied) > 0 {
		fmt.Fprintf(&b, "Applied from this pull request: `%s`.\n\n", strings.Join(applied, "`, `"))
	}
	if len(nothing) > 0 {
		fmt.Fprintf(&b, "Nothing to apply: `%s`.\n", strings.Join(nothing, "`, `"))
	}
	cr.Summary = b.String()
	_, err = gh.UpsertCheckRun(ctx, client, repo, 0, cr)
	return err
}

// startCheck marks a stage's check run in progress, reusing the run of this
// SHA when a previous attempt of the job made one.
func (w *Workflow) startCheck(ctx context.Context, client GitHub, repo gh.Repo, sha, stage string) (int64, error) {
	what := stage
	if base, _, err := sharedCheckOf(ctx, client, repo, sha, stage); err != nil {
		return 0, err
	} else if base != "" {
		stage = base // an instance's run shows in its stage's shared check run
	}
	name := comments.CheckRunName(stage)
	running := comments.RunningCheck(what, "plan")
	return gh.UpsertCheckRun(ctx, client, repo, 0, gh.CheckRun{Name: name, HeadSHA: sha, Status: running.Status, Title: running.Title, Summary: running.Summary})
}

// postStage writes a stage's comment (edited in place: one per stage, in as
// many parts as it needs; an instance's section of its stage's) and
// completes its check run.
func (w *Workflow) postStage(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, sp StagePlanned, checkID int64, actions func() []gh.CheckRunAction) error {
	if err := w.postParts(ctx, client, repo, pr.Number, sp.Affected.Stage.Name, sp.Comments); err != nil {
		return err
	}
	return w.finishStage(ctx, client, repo, pr, sp, checkID, actions)
}

// finishStage records a shown plan, which may be applied from then on, and
// completes its check run.
func (w *Workflow) finishStage(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, sp StagePlanned, checkID int64, actions func() []gh.CheckRunAction) error {
	if err := w.recordShown(ctx, repo, pr, sp); err != nil {
		return err
	}
	out := sp.Check
	cr := gh.CheckRun{Name: comments.CheckRunName(sp.Affected.Stage.Name), HeadSHA: pr.HeadSHA, Status: out.Status, Conclusion: out.Conclusion, Title: out.Title, Summary: out.Summary, Text: out.Text}
	if actions != nil {
		cr.Actions = actions()
	}
	_, err := gh.UpsertCheckRun(ctx, client, repo, checkID, cr)
	return err
}

// recordShown records a shown plan, which may be applied from then on,
// with what its policies said of it.
func (w *Workflow) recordShown(ctx context.Context, repo gh.Repo, pr gh.PullRequest, sp StagePlanned) error {
	stage := sp.Affected.Stage.Name
	// What the policies said is recorded before the plan may be applied.
	if sp.Result != nil && sp.Policy != nil {
		if err := w.Store.RecordPolicyCheck(ctx, repo.FullName(), pr.Number, stage, store.PolicyCheck{PlanSHA256: sp.Result.Meta.SHA256, HeadSHA: pr.HeadSHA, Deny: denials(sp.Policy)}); err != nil {
			return err
		}
	}
	// Reviewers have the plan in front of them: from now on, and not
	// before, it may be applied.
	if sp.Result != nil {
		return w.Runner.MarkPosted(ctx, sp.Result.Meta)
	}
	return nil
}

// postParts shows a stage's comment, or an instance's section of its
// stage's comment.
func (w *Workflow) postParts(ctx context.Context, client GitHub, repo gh.Repo, number int, stage string, parts []string) error {
	if !isUnit(stage) {
		return w.writeParts(ctx, client, repo, number, stage, parts)
	}
	if err := w.saveSection(ctx, repo, number, stage, parts); err != nil {
		return err
	}
	base, _ := config.SplitUnit(stage)
	_, err := w.composeStage(ctx, client, repo, number, base)
	return err
}

// writeParts rewrites a stage's comment whole: each part is upserted by
// its marker, and the parts an earlier, longer comment had beyond them
// are deleted, so that every part says "of N" of the same N. A job cut
// off half-way rewrites them all when it runs again.
func (w *Workflow) writeParts(ctx context.Context, client GitHub, repo gh.Repo, number int, stage string, parts []string) error {
	// One listing serves every part, and the parts to delete.
	existing, err := client.Comments(ctx, repo, number)
	if err != nil {
		return err
	}
	for i, body := range parts {
		marker := comments.Marker(stage)
		if i > 0 {
			marker = comments.PartMarker(stage, i+1)
		}
		if _, err := client.UpsertCommentIn(ctx, repo, number, existing, marker, body); err != nil {
			return err
		}
	}
	for _, c := range existing {
		if c.IsBot && partOf(c.Body, stage) > len(parts) {
			if err := client.DeleteComment(ctx, repo, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

var partMarker = regexp.MustCompile(`^<!-- stagebot:stage=(\S+) part=(\d+) -->\n`)

// partOf is which part of stage's comment body is (0: none): a part
// begins with its marker, and a marker anywhere else (a plan's output, an
// error the PR's code wrote) is text, not a part.
func partOf(body, stage string) int {
	m := partMarker.FindStringSubmatch(body)
	if m == nil || m[1] != stage {
		return 0
	}
	n, _ := strconv.Atoi(m[2])
	return n
}
