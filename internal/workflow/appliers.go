package workflow

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
)

// mayApply says whether user may apply (or unlock) stage, and when not,
// the refusal of command. A stage with an apply list (its own, else
// apply.users and apply.teams) may be applied only by the users it names
// and the members of the teams it names, whatever their role; a stage
// without one by anyone with the apply.permission role.
func (w *Workflow) mayApply(ctx context.Context, client GitHub, repo gh.Repo, user string, cfg *config.Repo, stage, command string) (*comments.Refusal, error) {
	who := cfg.StageAppliers(stage)
	if who.Empty() {
		ok, have, err := w.allowed(ctx, client, repo, user, cfg.Apply.Permission, cfg)
		if err != nil || ok {
			return nil, err
		}
		r := comments.NoPermission(command, user, have, cfg.Apply.Permission)
		return &r, nil
	}
	ok, err := w.named(ctx, client, user, who)
	if errors.Is(err, gh.ErrNoMembersPermission) {
		return noMembers(command), nil
	}
	if err != nil || ok {
		return nil, err
	}
	r := comments.NotAnApplier(command, user, stage, who.Users, who.Teams)
	return &r, nil
}

// noMembers refuses a command whose rights rest on team membership that
// GitHub will not show the App.
func noMembers(command string) *comments.Refusal {
	return &comments.Refusal{
		Command: command,
		Why:     "stagebot cannot tell who is in the teams `stagebot.yaml` names: GitHub refuses to show team membership to the App, which lacks the organization permission `members: read`.",
		Next:    "an organization owner accepts the permission in the App installation's settings (GitHub asks once the App requests it), then comment again.",
	}
}

// named reports whether user is one of who's users or a member of one of
// its teams.
func (w *Workflow) named(ctx context.Context, client GitHub, user string, who config.Appliers) (bool, error) {
	for _, u := range who.Users {
		if strings.EqualFold(strings.TrimPrefix(u, "@"), user) {
			return true, nil
		}
	}
	for _, team := range who.Teams {
		member, err := client.TeamMember(ctx, team, user)
		if err != nil {
			return false, fmt.Errorf("check whether @%s may apply: %w", user, err)
		}
		if member {
			return true, nil
		}
	}
	return false, nil
}

// mergeAppliers says why a merge may not apply one of stagesOf ("" when it
// may): for each stage, who merged it or an approver of its head must be
// allowed to apply that stage.
func (t *turn) mergeAppliers(ctx context.Context, stagesOf []string) (string, error) {
	w, client, pr, cfg := t.w, t.client, t.pr, t.cfg
	approvers, _, err := t.approvals(ctx)
	if err != nil {
		return "", err
	}
	people := append([]string{pr.MergedBy}, approvers...)
	for _, stage := range stagesOf {
		who := cfg.StageAppliers(stage)
		if who.Empty() {
			continue // the role rule, checked by mergeRules
		}
		ok := false
		for _, user := range people {
			if user == "" {
				continue
			}
			if ok, err = w.named(ctx, client, user, who); errors.Is(err, gh.ErrNoMembersPermission) {
				return noMembers("").Why, nil
			} else if err != nil {
				return "", err
			} else if ok {
				break
			}
		}
		if !ok {
			return fmt.Sprintf("neither who merged it (@%s) nor an approver may apply `%s`: `stagebot.yaml` lets only %s do that.", pr.MergedBy, stage, comments.Appliers(who.Users, who.Teams)), nil
		}
	}
	return "", nil
}
