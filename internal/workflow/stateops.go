package workflow

import (
	"context"
	"fmt"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// A /plan with arguments, an /import and a /state are plans of one stage
// (or one instance): oneStageFor refuses them for anything else, and
// recordCommandPlan records what such a plan makes (a state operation, a
// targeted plan) once it may be applied; turn.apply records that it was.

// oneStageFor refuses a /plan with arguments, or a state operation, whose
// stage the PR does not change, or that names a stage of several
// instances: its arguments are for one root module and one state.
func (t *turn) oneStageFor(affected []stages.Affected, only []string) *refusal {
	if t.args.Empty() && t.state == nil {
		return nil
	}
	named := ""
	if len(only) > 0 {
		named = only[0]
	}
	switch {
	case len(affected) == 0:
		return &refusal{comments.Refusal{Why: fmt.Sprintf("this pull request does not change `%s`, so it has no plan to make this change in.", named), Next: "push the change the operation goes with (for an import, the resource's configuration) and comment again."}}
	case t.state != nil && len(affected) > 1:
		return &refusal{comments.Refusal{Why: fmt.Sprintf("`%s` has %d instances, each with its own state.", named, len(affected)), Next: fmt.Sprintf("name one: `%s:INSTANCE`.", affected[0].Stage.Base)}}
	case !affected[0].Ready():
		return &refusal{comments.Refusal{Why: fmt.Sprintf("`%s` waits for %v to be applied first.", named, affected[0].WaitingFor), Next: "apply those first, then comment again."}}
	}
	return nil
}

// recordCommandPlan records the state operation a plan makes, and that a
// targeted plan leaves changes out, once the plan may be applied (it did
// not fail, and no step blocked it).
func (t *turn) recordCommandPlan(ctx context.Context, sp StagePlanned) error {
	if sp.Err != nil || sp.Result == nil || sp.Result.Blocked() != nil {
		return nil
	}
	if t.args.Partial() {
		if err := t.w.Store.MarkPartial(ctx, t.repo.FullName(), t.pr.Number, sp.Affected.Stage.Name, sp.Result.Meta.SHA256); err != nil {
			return err
		}
	}
	if t.state == nil {
		return nil
	}
	stage := sp.Affected.Stage.Name
	return t.w.Store.RecordStateOp(ctx, store.StateOp{Repo: t.repo.FullName(), PR: t.pr.Number, Stage: stage, Command: t.state.Command(stage),
		AskedBy: t.asker, HeadSHA: t.pr.HeadSHA, PlanSHA256: sp.Result.Meta.SHA256})
}
