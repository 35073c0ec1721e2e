package workflow

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/drift"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// Drift runs a scheduled drift check of a repository.
func (w *Workflow) Drift(ctx context.Context, job jobs.DriftJob) (err error) {
	defer func() { err = w.jobResult(job.Repo.FullName(), err) }()
	t, err := w.newTurn(ctx, job.InstallationID, job.Repo, gh.PullRequest{})
	if err != nil || t.cfg == nil || t.cfg.Drift == nil {
		return err
	}
	results, err := w.checkDrift(ctx, t)
	if err != nil {
		return err
	}
	logging.From(ctx).Info("drift checked", "stages", len(results))
	return nil
}

// checkDrift runs a drift check, one at a time per repository (across bots
// sharing PostgreSQL too): two checks of the default branch would share
// its checkout and saved plans.
// The stages upstream of those checked have their secrets read first.
func (w *Workflow) checkDrift(ctx context.Context, t *turn) ([]drift.Result, error) {
	ctx, done, err := w.beginPR(ctx, t.repo, 0, false, false)
	if err != nil {
		return nil, err
	}
	defer done()
	results, err := w.Drifts.Check(ctx, t.client, t.repo, t.cfg, func(ctx context.Context, root string, run runner.Run, units []config.Stage) *redact.Set {
		names := make([]string, len(units))
		for i, u := range units {
			names[i] = u.Name
		}
		t.learnUpstream(ctx, root, run, names)
		return t.redaction()
	})
	t.notifyDrift(ctx, results)
	return results, err
}

// DriftTick starts the drift checks that are due, once each: of several
// bots sharing the database, the one that moves a repository's next check
// on starts it.
func (w *Workflow) DriftTick(ctx context.Context, _ jobs.DriftTickJob) error {
	now := time.Now()
	due, err := w.Store.DueDrift(ctx, now)
	if err != nil {
		return err
	}
	for _, r := range due {
		sched, err := config.DriftSchedule(r.DriftSchedule)
		if err != nil {
			continue // the next read of stagebot.yaml says what is wrong
		}
		if taken, err := w.Store.ScheduleDrift(ctx, r.Repo, r.NextDriftAt, sched.Next(now)); err != nil || !taken {
			if err != nil {
				return err
			}
			continue
		}
		repo, err := webhook.ParseRepo(r.Repo, r.DefaultBranch)
		if err != nil {
			continue
		}
		job := jobs.DriftJob{DeliveryID: fmt.Sprintf("drift-%s-%d", r.Repo, r.NextDriftAt.Unix()), Repo: repo, InstallationID: r.InstallationID}
		if err := w.Enqueue(ctx, job); err != nil {
			return err
		}
	}
	return nil
}

// noteRepo keeps what a scheduled drift check of the repository needs: its
// installation and its schedule (next run from now when it changed).
func (w *Workflow) noteRepo(ctx context.Context, installation int64, repo gh.Repo, cfg *config.Repo) error {
	info := store.RepoInfo{Repo: repo.FullName(), InstallationID: installation, DefaultBranch: repo.DefaultBranch}
	var next func() time.Time
	if cfg != nil && cfg.Drift != nil {
		if sched, err := config.DriftSchedule(cfg.Drift.Schedule); err == nil {
			info.DriftSchedule = cfg.Drift.Schedule
			next = func() time.Time { return sched.Next(time.Now()) }
		}
	}
	return w.Store.SetRepo(ctx, info, next)
}

// driftCommand answers /drift, on an issue or a pull request, from someone
// with the write role: the stages are checked now, and the reply says what
// was found.
func (w *Workflow) driftCommand(ctx context.Context, client GitHub, ev webhook.CommentEvent, cmd command.Command) error {
	t, err := w.newTurn(ctx, ev.InstallationID, ev.Repo, gh.PullRequest{})
	var cfg *config.Repo
	if t != nil {
		cfg = t.cfg
	}
	var cerr configError
	switch {
	case errors.As(err, &cerr):
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("`%s` on the default branch is invalid: %v", config.RepoFile, cerr.err), Next: "fix it on the default branch, then comment again."})
	case err != nil:
		return err
	case cfg == nil:
		return w.refuse(ctx, client, ev, comments.Refusal{Command: cmd.String(), Why: fmt.Sprintf("the default branch has no `%s`.", config.RepoFile), Next: "add one that lists the stages (see stagebot's README)."})
	}
	if ok, have, err := w.allowed(ctx, client, ev.Repo, ev.Author, "write", cfg); err != nil {
		return err
	} else if !ok {
		return w.refuse(ctx, client, ev, comments.NoPermission(cmd.String(), ev.Author, have, "write"))
	}
	if err := w.noteRepo(ctx, ev.InstallationID, ev.Repo, cfg); err != nil {
		return err
	}
	if len(cmd.Stages) > 0 {
		only := *cfg
		d := config.Drift{Stages: cmd.Stages}
		if cfg.Drift != nil {
			d.Schedule = cfg.Drift.Schedule
		}
		only.Drift = &d
		t.cfg = &only
	}
	results, err := w.checkDrift(ctx, t)
	if err != nil {
		return err
	}
	return w.reply(ctx, client, ev, fmt.Sprintf("🔎 **Drift check of `%s`** (`%s`):\n\n%s", ev.Repo.DefaultBranch, cmd.String(), drift.Summary(results)))
}
