package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/logging"
)

// runCommand runs /plan, /apply, /unlock or /approve for the comment's
// author, in a turn judged by the rules of the default branch.
func (w *Workflow) runCommand(ctx context.Context, ev webhook.CommentEvent, cmd command.Command) error {
	client := w.client(ev.InstallationID)
	pr, err := client.PullRequest(ctx, ev.Repo, ev.Number)
	if err != nil {
		return err
	}
	t, err := w.newTurn(ctx, ev.InstallationID, ev.Repo, pr)
	var cerr configError
	if errors.As(err, &cerr) {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("`%s` on the default branch is invalid: %v", config.RepoFile, cerr.err), Next: "fix it on the default branch, then comment again."})
	}
	if err != nil {
		return err
	}
	t.asker = ev.Author
	cfg := t.cfg
	if cfg == nil {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("the default branch has no `%s`.", config.RepoFile), Next: "add one that lists the stages (see stagebot's README)."})
	}
	client = t.client // asks each role once
	for _, s := range cmd.Stages {
		if cfg.Stage(s) == nil {
			return w.reply(ctx, client, ev, comments.Help(helpInput(cfg, fmt.Sprintf("there is no stage `%s` in this repository.", s))))
		}
	}
	if r, err := w.mayRun(ctx, client, ev, cfg, cmd); err != nil {
		return err
	} else if r != nil {
		return w.refuse(ctx, client, ev, *r)
	}
	if pr.State != "open" {
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: "the pull request is closed.", Next: "reopen it, or open a new one."})
	}
	switch cmd.Name {
	case command.Plan, command.Import, command.State:
		// A state operation asks, like an apply, for the right to apply
		// its stage (mayRun): it is planned now and applied only by /apply.
		t.args, t.state = cmd.Args, cmd.State
		err := w.planPR(ctx, t, cmd.Stages)
		var r refusal
		if errors.As(err, &r) {
			r.Command = cmd.String()
			return w.refuse(ctx, client, ev, r.Refusal)
		}
		return err
	case command.Unlock:
		held, err := w.Store.Locks(ctx, ev.Repo.FullName(), pr.Number)
		if err != nil {
			return err
		}
		var release []string // `/unlock tenant` releases every instance's lock
		for _, stage := range held {
			if st := cfg.Stage(stage); len(cmd.Stages) > 0 && (st == nil || !config.IsStageOrUnitOf(cmd.Stages, *st)) {
				continue
			}
			if r, err := w.mayApply(ctx, client, ev.Repo, ev.Author, cfg, stage, cmd.String()); err != nil || r != nil {
				if err != nil {
					return err
				}
				return w.refuse(ctx, client, ev, *r)
			}
			release = append(release, stage)
		}
		var released []string
		if len(release) > 0 {
			if released, err = w.Store.Unlock(ctx, ev.Repo.FullName(), pr.Number, release...); err != nil {
				return err
			}
		}
		if err := w.reply(ctx, client, ev, comments.Unlocked(released)); err != nil {
			return err
		}
		return w.resumeMerges(ctx, ev.InstallationID, ev.Repo)
	case command.Apply:
		return w.apply(ctx, t, ev, cmd)
	case command.Approve:
		return w.approvePolicies(ctx, t, ev, cmd)
	}
	return nil
}

// refusal is a command refused after it started: planPR's for a
// /plan, /import or /state that names what cannot take its arguments.
type refusal struct{ comments.Refusal }

func (r refusal) Error() string { return r.Why }

// mayRun refuses a command its author may not give: /plan needs write;
// /apply and /unlock of named stages need the right to apply each (see
// mayApply). Without named stages, and when no stage has an apply list,
// the role rule is checked here; otherwise each stage is checked when it
// is reached.
func (w *Workflow) mayRun(ctx context.Context, client GitHub, ev webhook.CommentEvent, cfg *config.Repo, cmd command.Command) (*comments.Refusal, error) {
	if cmd.Name == command.Approve {
		return nil, nil // a policy owner of each stage, checked there
	}
	if cmd.Name == command.Plan {
		ok, have, err := w.allowed(ctx, client, ev.Repo, ev.Author, "write", cfg)
		if err != nil || ok {
			return nil, err
		}
		r := comments.NoPermission(cmd.String(), ev.Author, have, "write")
		return &r, nil
	}
	names := cmd.Stages
	if len(names) == 0 {
		for _, s := range cfg.Stages {
			if !cfg.StageAppliers(s.Name).Empty() {
				return nil, nil
			}
		}
		names = cfg.StageNames()[:1] // every stage has the role rule
	}
	for _, stage := range names {
		if r, err := w.mayApply(ctx, client, ev.Repo, ev.Author, cfg, stage, cmd.String()); err != nil || r != nil {
			return r, err
		}
	}
	return nil, nil
}

// allowed reports whether user may act with role need (or is named in the
// apply users), and the user's role.
func (w *Workflow) allowed(ctx context.Context, client GitHub, repo gh.Repo, user, need string, cfg *config.Repo) (bool, string, error) {
	have, err := client.Permission(ctx, repo, user)
	if err != nil {
		return false, "", err
	}
	if slices.Contains(cfg.Apply.Users, user) {
		return true, have, nil
	}
	return slices.Index(config.Roles, have) >= slices.Index(config.Roles, need) && slices.Contains(config.Roles, have), have, nil
}

func (w *Workflow) refuse(ctx context.Context, client GitHub, ev webhook.CommentEvent, r comments.Refusal) error {
	logging.From(ctx).Info("command refused", "why", r.Why)
	body := r.Render(ev.CommentID)
	if _, err := client.UpsertComment(ctx, ev.Repo, ev.Number, comments.ReplyMarker(ev.CommentID), body); err != nil {
		return fmt.Errorf("refuse %s on %s#%d: %w", r.Command, ev.Repo.FullName(), ev.Number, err)
	}
	return nil
}
