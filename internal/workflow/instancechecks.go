package workflow

import (
	"context"
	"fmt"
	"slices"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/stages"
)

// A push that plans InstanceCheckRuns or more instances of a stage gives
// them one check run, the stage's (stagebot/tenant), instead of one each:
// its summary is the instance table, its conclusion the worst of theirs,
// and its Apply button applies them all. A push then costs the same few
// GitHub calls whatever its instances. The instances' runs on that commit
// (their applies, a policy's approval) report to it too: it is made again
// from the sections each instance keeps for the stage's comment.

// sharedChecks are the instanced stages of affected whose instances share
// the stage's check run on sha: many instances planned, or a shared check
// run there already (an earlier push of the same commit made it).
func (w *Workflow) sharedChecks(ctx context.Context, client GitHub, repo gh.Repo, sha string, affected []stages.Affected) (map[string]bool, error) {
	shared := map[string]bool{}
	for base, n := range instancesOf(affected) {
		id, err := client.FindCheckRun(ctx, repo, sha, comments.CheckRunName(base))
		if err != nil {
			return nil, err
		}
		if n >= w.InstanceCheckRuns || id != 0 {
			shared[base] = true
		}
	}
	return shared, nil
}

// instancesOf counts the instances of affected by their stage.
func instancesOf(affected []stages.Affected) map[string]int {
	count := map[string]int{}
	for _, a := range affected {
		if a.Stage.Base != "" {
			count[a.Stage.Base]++
		}
	}
	return count
}

// checkUnit is the unit whose check run a's plan reports to.
func checkUnit(a stages.Affected, shared map[string]bool) string {
	if shared[a.Stage.Base] {
		return a.Stage.Base
	}
	return a.Stage.Name
}

// sharedCheckOf is the stage whose check run on sha unit's runs report to,
// and its id, when unit is an instance whose stage's instances share one
// there ("" otherwise).
func sharedCheckOf(ctx context.Context, client GitHub, repo gh.Repo, sha, unit string) (string, int64, error) {
	base, instance := config.SplitUnit(unit)
	if instance == "" {
		return "", 0, nil
	}
	id, err := client.FindCheckRun(ctx, repo, sha, comments.CheckRunName(base))
	if err != nil || id == 0 {
		return "", 0, err
	}
	return base, id, nil
}

// composeCheck completes stage's shared check run on sha (id, or found
// by its name when 0) for PR number: its instance table from the PR's
// sections, its conclusion the worst of what the instances conclude on
// sha for every PR (see store.UnitChecks); buttons gives its buttons for
// that conclusion.
func (w *Workflow) composeCheck(ctx context.Context, client GitHub, repo gh.Repo, number int, sha, stage string, id int64, buttons func(conclusion string) []gh.CheckRunAction) error {
	in, err := w.sectionsOf(ctx, repo, number, stage)
	if err != nil {
		return err
	}
	recorded, err := w.Store.UnitChecks(ctx, repo.FullName(), sha, stage)
	if err != nil {
		return err
	}
	checks := make([]comments.InstanceCheck, len(recorded))
	for i, c := range recorded {
		checks[i] = comments.InstanceCheck{PR: c.PR, Unit: c.Unit, Conclusion: c.Conclusion}
	}
	out := comments.InstancesCheck(stage, number, in, checks)
	cr := gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: sha, Status: out.Status, Conclusion: out.Conclusion, Title: out.Title, Summary: out.Summary}
	if buttons != nil {
		cr.Actions = buttons(out.Conclusion)
	} else {
		cr.Actions = []gh.CheckRunAction{replanButton(stage)}
	}
	_, err = gh.UpsertCheckRun(ctx, client, repo, id, cr)
	return err
}

// completeUnitCheck completes the check run unit's run on cr.HeadSHA
// reports to: its stage's shared one, with conclusion recorded as what
// the instance now concludes there; else its own (id, or found by its
// name when 0; none found: nothing to complete) with cr.
func (w *Workflow) completeUnitCheck(ctx context.Context, client GitHub, repo gh.Repo, number int, unit string, id int64, cr gh.CheckRun, conclusion string) error {
	base, sharedID, err := sharedCheckOf(ctx, client, repo, cr.HeadSHA, unit)
	if err != nil {
		return err
	}
	if base != "" {
		if err := w.Store.SetUnitCheck(ctx, repo.FullName(), cr.HeadSHA, number, base, unit, conclusion); err != nil {
			return err
		}
		return w.composeCheck(ctx, client, repo, number, cr.HeadSHA, base, sharedID, nil)
	}
	if id == 0 {
		if id, err = client.FindCheckRun(ctx, repo, cr.HeadSHA, cr.Name); err != nil || id == 0 {
			return err
		}
	}
	return client.UpdateCheckRun(ctx, repo, id, cr)
}

// appliedConclusion is what an instance concludes after its apply: nothing
// left to do, or a failure.
func appliedConclusion(ok bool) string {
	if ok {
		return "neutral"
	}
	return "failure"
}

// unshownPlan refuses the apply of an instance whose plan the pull request
// does not show now: its stage's instances share one check run on the
// head, the stage's comment (made anew from every instance's section
// whenever one changes) has no room for it, and it has no check run of its
// own there. A plan shown once and pushed out of the comment since is
// not applied unseen.
func (w *Workflow) unshownPlan(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, unit, label string) (*comments.Refusal, error) {
	base, _, err := sharedCheckOf(ctx, client, repo, pr.HeadSHA, unit)
	if err != nil || base == "" {
		return nil, err
	}
	in, err := w.sectionsOf(ctx, repo, pr.Number, base)
	if err != nil {
		return nil, err
	}
	if _, unshown := comments.Instances(base, in); !slices.Contains(unshown, unit) {
		return nil, nil
	}
	if id, err := client.FindCheckRun(ctx, repo, pr.HeadSHA, comments.CheckRunName(unit)); err != nil || id != 0 {
		return nil, err
	}
	return &comments.Refusal{Command: label,
		Why:  fmt.Sprintf("the plan of `%s` is not shown on the pull request: the comment of `%s` has no room for it now.", unit, base),
		Next: fmt.Sprintf("comment `/plan %s`: its plan is then shown in its own check run, `%s`, to review before `%s`.", unit, comments.CheckRunName(unit), label)}, nil
}
