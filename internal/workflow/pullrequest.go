package workflow

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// PullRequest acts on a PR being opened, pushed to, reopened, marked ready or
// closed.
func (w *Workflow) PullRequest(ctx context.Context, job jobs.PullRequestJob) (err error) {
	ev := job.Event
	defer func() { err = w.jobResult(ev.Repo.FullName(), err) }()
	log := logging.From(ctx)
	if ev.Action == "labeled" || ev.Action == "unlabeled" {
		// Any other label leaves a running plan alone.
		if skip, err := w.isSkipLabel(ctx, ev); err != nil || !skip {
			return err
		}
		log.Info("skip label "+ev.Action, "label", ev.Label)
	}
	if ev.Action == "synchronize" && ev.Sender != "" {
		// Whoever pushed may not approve what they pushed, in this PR or
		// another that brings the same commit.
		if err := w.Store.AddPusher(ctx, ev.Repo.FullName(), ev.Number, ev.Sender); err != nil {
			return err
		}
		if err := w.Store.AddCommitPushers(ctx, ev.Repo.FullName(), ev.Sender, []string{ev.HeadSHA}); err != nil {
			return err
		}
	}
	if announcesPusher(ev) {
		if err := w.Store.AddHead(ctx, ev.Repo.FullName(), ev.Number, ev.HeadSHA); err != nil {
			return err
		}
	}
	// A newer event supersedes whatever still runs for the PR.
	prCtx, done, err := w.beginPR(ctx, ev.Repo, ev.Number, true, ev.Action != "closed")
	if err != nil {
		return err
	}
	defer done()
	if ev.Action == "closed" {
		if ev.Merged {
			if err := w.applyOnMerge(prCtx, ev.InstallationID, ev.Repo, ev.Number); err != nil {
				return err
			}
		}
		released, err := w.Store.Unlock(ctx, ev.Repo.FullName(), ev.Number)
		if err != nil {
			return err
		}
		if err := w.Store.DeleteUnitChecks(ctx, ev.Repo.FullName(), ev.Number, ""); err != nil {
			return err
		}
		if err := w.Store.DeletePRSections(ctx, ev.Repo.FullName(), ev.Number); err != nil {
			return err
		}
		if err := w.Store.DeleteOutcomes(ctx, ev.Repo.FullName(), ev.Number); err != nil {
			return err
		}
		// Merges that waited for this PR's locks go on now.
		if err := w.resumeMerges(prCtx, ev.InstallationID, ev.Repo); err != nil {
			return err
		}
		if err := w.Runner.RemovePR(ctx, ev.Repo.FullName(), ev.Number); err != nil {
			return err
		}
		log.Info("pull request closed: locks released, workspaces and plan files removed", "merged", ev.Merged, "released", released)
		return nil
	}
	err = w.autoplan(prCtx, ev.InstallationID, ev.Repo, ev.Number)
	if err != nil && prCtx.Err() != nil && ctx.Err() == nil {
		log.Info("plan superseded by a newer event for the pull request")
		return nil
	}
	return err
}

// announcesPusher reports whether the event names who pushed the PR's
// head: a synchronize's sender, or the author of the head a PR is opened
// with; never an App or workflow (a [bot], which acts for whoever started
// that run), and never the opened head of a fork, whose pushes before the
// PR was opened reach no event of this repository.
func announcesPusher(ev webhook.PullRequestEvent) bool {
	switch {
	case ev.HeadSHA == "" || ev.Sender == "" || strings.HasSuffix(ev.Sender, "[bot]"):
		return false
	case ev.Action == "synchronize":
		return true
	case ev.Action == "opened":
		return !ev.Fork && !strings.HasSuffix(ev.Author, "[bot]")
	}
	return false
}

// autoplan plans the stages a PR affects at its current head.
func (w *Workflow) autoplan(ctx context.Context, installation int64, repo gh.Repo, number int) error {
	log := logging.From(ctx)
	pr, err := w.client(installation).PullRequest(ctx, repo, number)
	if err != nil {
		return err
	}
	if pr.State != "open" {
		log.Info("not planned: the pull request is not open")
		return nil
	}
	t, err := w.newTurn(ctx, installation, repo, pr)
	var cerr configError
	if errors.As(err, &cerr) {
		// Retrying cannot help: tell the PR what to fix.
		_, err := w.client(installation).UpsertComment(ctx, repo, number, comments.ConfigMarker, comments.BrokenConfig(config.RepoFile, repo.DefaultBranch, cerr.Error()))
		return err
	}
	if err != nil {
		return err
	}
	if t.cfg == nil {
		log.Info("not planned: the default branch has no " + config.RepoFile)
		return nil
	}
	cfg := t.cfg
	if err := w.noteRepo(ctx, installation, repo, cfg); err != nil {
		return err
	}
	switch {
	case slices.Contains(pr.Labels, cfg.Autoplan.SkipLabel):
		log.Info("not planned: the pull request is labelled " + cfg.Autoplan.SkipLabel)
		return nil
	case pr.Draft && !cfg.Autoplan.Drafts:
		log.Info("not planned: draft pull request")
		return nil
	case pr.Fork && !cfg.Autoplan.Forks:
		// A plan runs the PR's code with the bot's credentials.
		log.Info("not planned: the pull request comes from a fork")
		return nil
	}
	return w.planPR(ctx, t, nil)
}

// isSkipLabel reports whether a labeled or unlabeled event is about the
// repository's skip label: adding it stops a plan that runs, removing it
// plans the PR.
func (w *Workflow) isSkipLabel(ctx context.Context, ev webhook.PullRequestEvent) (bool, error) {
	cfg, err := w.repoConfig(ctx, w.client(ev.InstallationID), ev.Repo)
	var cerr configError
	if errors.As(err, &cerr) || cfg == nil {
		return false, nil // nothing to plan; opening the PR said why
	}
	if err != nil {
		return false, err
	}
	return ev.Label == cfg.Autoplan.SkipLabel, nil
}

// repoConfig reads stagebot.yaml from the default branch: a PR cannot change
// what it is allowed to do. nil means the repository has none.
func (w *Workflow) repoConfig(ctx context.Context, client GitHub, repo gh.Repo) (*config.Repo, error) {
	ref := repo.DefaultBranch
	if ref == "" {
		ref = "HEAD"
	}
	data, err := client.FileContent(ctx, repo, config.RepoFile, ref)
	if gh.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	cfg, err := config.ParseRepo(data, "")
	if err != nil {
		return nil, configError{err}
	}
	return cfg, nil
}

// configError is a broken stagebot.yaml: retrying will not help, the
// repository must be fixed.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }

// planPR plans the affected stages of the turn's PR (only those in only,
// when set), posting each stage's comment and check run.
func (w *Workflow) planPR(ctx context.Context, t *turn, only []string) error {
	repo, pr, cfg := t.repo, t.pr, t.cfg
	log := logging.From(ctx).With("sha", pr.HeadSHA)
	client := newCheckRunsOf(t.client, pr.HeadSHA)
	ws, affected, files, err := w.affected(ctx, client, repo, pr, cfg)
	if errors.Is(err, errReported) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(only) > 0 {
		affected = keep(affected, only)
	}
	if r := t.oneStageFor(affected, only); r != nil {
		return *r
	}
	if err := w.retireStages(ctx, client, repo, pr, cfg, affected, only); err != nil {
		return err
	}
	if len(affected) == 0 {
		log.Info("no stage affected")
		return nil
	}
	// A stage with many instances planned gives them its one check run.
	shared, err := w.sharedChecks(ctx, client, repo, pr.HeadSHA, affected)
	if err != nil {
		return err
	}
	checks := map[string]int64{}
	for _, a := range affected {
		unit := checkUnit(a, shared)
		if _, started := checks[unit]; started || !a.Ready() {
			continue
		}
		id, err := w.startCheck(ctx, client, repo, pr.HeadSHA, unit)
		if err != nil {
			return err
		}
		checks[unit] = id
	}
	target := PlanTarget{Repo: repo.FullName(), PR: pr.Number, Root: ws, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA, LockedBy: map[string]int{}, Drift: map[string]int{}, Managed: managedObjects(cfg),
		Rules: t.rulesChanged(files), RulesBase: comments.RulesBase{Branch: repo.DefaultBranch, SHA: t.base}, Args: t.args, State: t.state}
	if target.Policies, err = t.policies(ctx, StageNames(affected)); err != nil {
		return err
	}
	if target.Providers, err = t.providerCodes(ctx, pr.HeadSHA, readyOnly(affected)); err != nil {
		return err
	}
	for _, a := range affected {
		// A locked stage is still planned; its comment says who holds it.
		owner, err := w.Store.LockOwner(ctx, repo.FullName(), a.Stage.Name)
		if err != nil {
			return err
		}
		if owner != 0 && owner != pr.Number {
			target.LockedBy[a.Stage.Name] = owner
		}
		// A stage in drift is marked: its plan includes someone else's
		// change.
		if d, ok, err := w.Store.Drift(ctx, repo.FullName(), a.Stage.Name); err != nil {
			return err
		} else if ok && d.Drifted {
			target.Drift[a.Stage.Name] = d.Issue
		}
	}
	target.Parallelism, target.RunURL = w.Parallelism, w.runURLs()
	if target.RemovedVars, err = w.removedVars(ctx, client, repo, pr.BaseSHA, affected); err != nil {
		return err
	}
	planned := t.plan(ctx, target, affected)
	if ctx.Err() != nil {
		return ctx.Err() // a newer push took over; it posts the plans
	}
	// Each instanced stage's comment is made once, from all its sections,
	// before any of their plans may be applied.
	instanced := map[string]bool{} // the stages whose instances were planned
	planning := map[string]bool{}  // those instances
	for _, sp := range planned {
		if st := sp.Affected.Stage; st.Base != "" {
			planning[st.Name] = true
			if shared[st.Base] {
				// The stage's check run on the head is the worst of its
				// instances' there.
				if err := w.Store.SetUnitCheck(ctx, repo.FullName(), pr.HeadSHA, pr.Number, st.Base, st.Name, sp.Check.Conclusion); err != nil {
					return err
				}
			}
			if err := w.saveSection(ctx, repo, pr.Number, st.Name, sp.Comments); err != nil {
				return err
			}
			instanced[st.Base] = true
		}
	}
	// A plan the comment has no room for is shown in its own check run,
	// shared or not, before it may be applied.
	unshown := map[string]bool{}
	for base := range instanced {
		left, err := w.composeStage(ctx, client, repo, pr.Number, base)
		if err != nil {
			return err
		}
		for _, unit := range left {
			unshown[unit] = true
		}
	}
	// An instance not planned now whose plan lost its room in the comment,
	// with no check run of its own, holds its stage's Apply button: its
	// /apply waits for a /plan of it (see unshownPlan).
	hidden := map[string]bool{}
	for unit := range unshown {
		if planning[unit] {
			continue
		}
		own, err := client.FindCheckRun(ctx, repo, pr.HeadSHA, comments.CheckRunName(unit))
		if err != nil {
			return err
		}
		if base, _ := config.SplitUnit(unit); own == 0 {
			hidden[base] = true
		}
	}
	for _, sp := range planned {
		if errors.Is(sp.Err, context.Canceled) {
			return ctx.Err()
		}
		actions := func() []gh.CheckRunAction { return t.stageActions(ctx, sp) }
		var err error
		switch {
		case shared[sp.Affected.Stage.Base] && !unshown[sp.Affected.Stage.Name]:
			// Shown in the comment; a check run of its own from when it
			// was not (the same commit planned before) shows this plan too.
			var own int64
			if own, err = client.FindCheckRun(ctx, repo, pr.HeadSHA, comments.CheckRunName(sp.Affected.Stage.Name)); err == nil && own != 0 {
				err = w.finishStage(ctx, client, repo, pr, sp, own, actions)
			} else if err == nil {
				err = w.recordShown(ctx, repo, pr, sp)
			}
		case sp.Affected.Stage.Base != "":
			err = w.finishStage(ctx, client, repo, pr, sp, checks[sp.Affected.Stage.Name], actions)
		default:
			err = w.postStage(ctx, client, repo, pr, sp, checks[sp.Affected.Stage.Name], actions)
		}
		if err != nil {
			return err
		}
		if err := w.Store.SetOutcome(ctx, repo.FullName(), pr.Number, sp.Affected.Stage.Name, sp.outcome()); err != nil {
			return err
		}
		if err := t.recordCommandPlan(ctx, sp); err != nil {
			return err
		}
		t.notifyDenied(ctx, sp)
		log.Info("stage planned", "stage", sp.Affected.Stage.Name, "ready", sp.Affected.Ready(), "failed", sp.Err != nil)
	}
	for base := range shared {
		buttons := func(conclusion string) []gh.CheckRunAction {
			if conclusion != "success" || hidden[base] {
				return []gh.CheckRunAction{replanButton(base)}
			}
			return t.buttons(ctx, base)
		}
		if err := w.composeCheck(ctx, client, repo, pr.Number, pr.HeadSHA, base, checks[base], buttons); err != nil {
			return err
		}
	}
	// The head's checkout is the PR's only one now.
	if err := w.Runner.PruneWorkspaces(repo.FullName(), pr.Number, pr.HeadSHA); err != nil {
		return err
	}
	return w.applyCheck(ctx, client, repo, pr, cfg)
}

// readyOnly are the affected stages that are planned now.
func readyOnly(affected []stages.Affected) []stages.Affected {
	var out []stages.Affected
	for _, a := range affected {
		if a.Ready() {
			out = append(out, a)
		}
	}
	return out
}

// StageNames are the names of the affected stages (instances as
// stage:instance), in order.
func StageNames(affected []stages.Affected) []string {
	out := make([]string, len(affected))
	for i, a := range affected {
		out[i] = a.Stage.Name
	}
	return out
}

// retireStages edits the comments of stages an earlier head affected and
// this one does not, so no stale plan is left for reviewers to read.
func (w *Workflow) retireStages(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo, affected []stages.Affected, only []string) error {
	if len(only) > 0 {
		return nil // a /plan of some stages says nothing of the others
	}
	now := map[string]bool{}
	for _, a := range affected {
		now[a.Stage.Name] = true
	}
	existing, err := client.Comments(ctx, repo, pr.Number)
	if err != nil {
		return err
	}
	if err := w.withinLimits(ctx, client, repo, pr, existing); err != nil {
		return err
	}
	for _, s := range cfg.Stages {
		if s.Instanced() {
			// Instances still affected: planPR makes the stage's comment.
			if left, err := w.retireInstances(ctx, repo, pr.Number, s, now); err != nil || left {
				if err != nil {
					return err
				}
				continue
			}
		}
		marker := comments.Marker(s.Name)
		for _, c := range existing {
			if now[s.Name] || !c.IsBot || !strings.Contains(c.Body, marker) || strings.Contains(c.Body, "no longer changes") {
				continue
			}
			if err := w.Store.SetOutcome(ctx, repo.FullName(), pr.Number, s.Name, store.OutcomeNothing); err != nil {
				return err
			}
			if err := w.writeParts(ctx, client, repo, pr.Number, s.Name, []string{comments.Retired(s.Name, pr.HeadSHA)}); err != nil {
				return err
			}
		}
	}
	return nil
}

// keep returns the affected stages only names, a stage naming all its
// instances.
func keep(affected []stages.Affected, only []string) []stages.Affected {
	var out []stages.Affected
	for _, a := range affected {
		if config.IsStageOrUnitOf(only, a.Stage) {
			out = append(out, a)
		}
	}
	return out
}

// managedObjects are the Secrets stagebot.yaml has the bot write.
func managedObjects(cfg *config.Repo) []kube.Object {
	var out []kube.Object
	for _, s := range cfg.Secrets {
		out = append(out, kube.Object{Kind: "Secret", Namespace: s.Namespace, Name: s.Name})
	}
	return out
}
