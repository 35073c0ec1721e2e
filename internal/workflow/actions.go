package workflow

import (
	"context"
	"strings"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/config"
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
func (w *Workflow) stageActions(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo, sp StagePlanned) []gh.CheckRunAction {
	stage := sp.Affected.Stage.Name
	if sp.Err != nil || sp.Result == nil || !sp.Result.HasChanges || !sp.Affected.Ready() || (sp.Policy != nil && sp.Policy.Blocked()) {
		return []gh.CheckRunAction{replanButton(stage)}
	}
	return w.buttons(ctx, client, repo, pr, cfg, stage)
}

func replanButton(stage string) gh.CheckRunAction {
	return gh.CheckRunAction{Label: "Re-plan", Identifier: actionPlan, Description: cut("Run /plan "+stage, 40)}
}

// buttons are Re-plan, and Apply when no other PR holds the stage's lock
// and its requirements hold, for a stage whose plan may be applied.
func (w *Workflow) buttons(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo, stage string) []gh.CheckRunAction {
	actions := []gh.CheckRunAction{replanButton(stage)}
	if owner, err := w.Store.LockOwner(ctx, repo.FullName(), stage); err != nil || (owner != 0 && owner != pr.Number) {
		return actions
	}
	run := runner.Run{Repo: repo.FullName(), PR: pr.Number, Stage: stage, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA}
	if r := w.checkRequirements(ctx, client, repo, pr, cfg, run, "/apply "+stage); r != nil {
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
// in the PR.
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
			return w.runCommand(prCtx, client, cev, cmd)
		}()
		if err != nil {
			return err
		}
	}
	return nil
}
