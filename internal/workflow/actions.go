package workflow

import (
	"context"
	"fmt"
	"strings"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/runner"
)

// Button identifiers on a stage's check run.
const (
	actionApply = "apply"
	actionPlan  = "plan"
)

// stageActions are the buttons of a stage's check run: "Re-plan" always,
// and "Apply <stage>" when /apply of the stage would be allowed now (its
// plan has changes and was posted, no upstream waits, no other PR holds its
// lock, the requirements hold). Who presses it is checked when they do.
func (t *turn) stageActions(ctx context.Context, sp StagePlanned) []gh.CheckRunAction {
	stage := sp.Affected.Stage.Name
	if sp.Err != nil || sp.Result == nil || !sp.Result.HasChanges || !sp.Affected.Ready() || (sp.Policy != nil && sp.Policy.Blocked()) {
		return []gh.CheckRunAction{replanButton(stage)}
	}
	return t.buttons(ctx, stage)
}

func replanButton(stage string) gh.CheckRunAction {
	return gh.CheckRunAction{Label: "Re-plan", Identifier: actionPlan, Description: cut("Run /plan "+stage, 40)}
}

// buttons are Re-plan, and Apply when no other PR holds the stage's lock
// and its requirements hold, for a stage whose plan may be applied.
func (t *turn) buttons(ctx context.Context, stage string) []gh.CheckRunAction {
	actions := []gh.CheckRunAction{replanButton(stage)}
	if owner, err := t.w.Store.LockOwner(ctx, t.repo.FullName(), stage); err != nil || (owner != 0 && owner != t.pr.Number) {
		return actions
	}
	run := runner.Run{Repo: t.repo.FullName(), PR: t.pr.Number, Stage: stage, HeadSHA: t.pr.HeadSHA, BaseSHA: t.pr.BaseSHA}
	if r := t.checkRequirements(ctx, run, "/apply "+stage); r != nil {
		return actions
	}
	label := "Apply " + stage
	if len(label) > 20 {
		label = "Apply"
	}
	return append([]gh.CheckRunAction{{Label: label, Identifier: actionApply, Description: cut("Run /apply "+stage, 40)}}, actions...)
}

func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// pressed runs the command a check run's button stands for, on each PR of
// the check run's head, exactly as the presser's comment would: their
// permission and every requirement are checked, and the answer is a reply
// in the PR. A button acts only on its own commit: pressed on the check
// run of an older head, or before that head's plan was posted, it is
// answered in the PR and nothing runs.
func (w *Workflow) pressed(ctx context.Context, client GitHub, ev webhook.CheckRunEvent) error {
	stage := strings.TrimPrefix(ev.Name, "stagebot/")
	var name string
	switch ev.Identifier {
	case actionApply:
		name = command.Apply
	case actionPlan:
		name = command.Plan
	default:
		return nil // not a button of ours
	}
	cmd := command.Command{Name: name, Stages: []string{stage}}
	for _, number := range ev.PullRequests {
		// The press is answered like a comment: its reply and its trigger
		// are keyed by the check run (never a comment's id: those are
		// positive).
		cev := webhook.CommentEvent{InstallationID: ev.InstallationID, Repo: ev.Repo, Number: number, CommentID: -ev.CheckRunID, Author: ev.Sender, Body: cmd.String()}
		logging.From(ctx).Info("check run button pressed", "command", cmd.String(), "by", ev.Sender, "pr", number)
		err := func() error {
			prCtx, done, err := w.beginPR(ctx, ev.Repo, number, false, false)
			if err != nil {
				return err
			}
			defer done()
			if r, err := w.staleButton(prCtx, client, ev, number, cmd); err != nil || r != nil {
				if err != nil {
					return err
				}
				return w.refuse(prCtx, client, cev, *r)
			}
			return w.runCommand(prCtx, cev, cmd)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// staleButton refuses a press that is not for the PR's current head, or
// an Apply pressed before that head's plan of the stage was posted.
func (w *Workflow) staleButton(ctx context.Context, client GitHub, ev webhook.CheckRunEvent, number int, cmd command.Command) (*comments.Refusal, error) {
	pr, err := client.PullRequest(ctx, ev.Repo, number)
	if err != nil {
		return nil, err
	}
	stage := cmd.Stages[0]
	if pr.HeadSHA != ev.HeadSHA {
		return &comments.Refusal{Command: cmd.String(),
			Why:  fmt.Sprintf("the button was pressed on the check run of %s, but the pull request's head is now %s. A button acts only on its own commit.", comments.ShortSHA(ev.HeadSHA), comments.ShortSHA(pr.HeadSHA)),
			Next: fmt.Sprintf("review the plan of %s, then press the button on its check run or comment `%s`.", comments.ShortSHA(pr.HeadSHA), cmd.String())}, nil
	}
	if cmd.Name != command.Apply {
		return nil, nil
	}
	if secs, err := w.Store.Sections(ctx, ev.Repo.FullName(), number, stage); err != nil || len(secs) > 0 {
		// The shared check run of a stage's instances: /apply of the
		// stage checks each instance's posted plan as it goes.
		return nil, err
	}
	run := runner.Run{Repo: ev.Repo.FullName(), PR: number, Stage: stage, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA}
	if _, err := w.Runner.PostedPlan(ctx, run); err != nil {
		return &comments.Refusal{Command: cmd.String(),
			Why:  fmt.Sprintf("no posted plan of `%s` at %s may be applied: %v", stage, comments.ShortSHA(pr.HeadSHA), err),
			Next: fmt.Sprintf("comment `/plan %s`, review the plan, then press Apply on its check run.", stage)}, nil
	}
	return nil, nil
}
