package workflow

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// The gate: every action that plans or applies (autoplan, /plan, /apply,
// a button, a merge, a resumed merge, a drift check) starts from one turn,
// made by newTurn or mergeTurn and nowhere else. A turn holds the facts the
// action is judged by, read once: the rules (stagebot.yaml and policies)
// of the base the change was reviewed against, who may approve it, and
// what must be redacted.

// turn is one action on a repository, and a PR when there is one.
type turn struct {
	w *Workflow
	// client redacts everything it writes and asks each role once.
	client GitHub
	repo   gh.Repo
	pr     gh.PullRequest
	src    runner.Source
	// base is the commit whose rules judge the turn: the default branch's
	// tip for a PR or a drift check, the tip a merge went into (see
	// mergeBase). Never a commit the change made.
	base string
	// cfg is stagebot.yaml at base; nil when base has none.
	cfg *config.Repo

	approval  *approvalFacts // read once, on first use
	providers providerMemo   // the provider code of its commits, read once
	// learned are the upstream stages whose outputs this turn read, by
	// checkout.
	learned map[string]bool

	// args and state are what a /plan, /import or /state asks of the
	// one stage it names; asker is who asked.
	args  command.PlanArgs
	state *command.StateOp
	asker string
	// partial are the stages this turn applied from a plan that left
	// changes out (-target): they are planned again in full.
	partial map[string]bool
}

// newTurn is the turn of a PR's plan, command or button (pr set), or of a
// drift check (pr zero): judged by the rules at the tip of the default
// branch. A broken stagebot.yaml is a configError; a base without one
// leaves t.cfg nil.
func (w *Workflow) newTurn(ctx context.Context, installation int64, repo gh.Repo, pr gh.PullRequest) (*turn, error) {
	t, err := w.startTurn(ctx, installation, repo, pr)
	if err != nil {
		return nil, err
	}
	if t.base, err = w.Runner.BranchTip(ctx, t.src, repo.DefaultBranch); err != nil {
		return nil, err
	}
	return t, t.readConfig(ctx)
}

// mergeTurn is the turn of a merged PR's apply: judged by the rules of the
// default branch as it was just before the merge (see mergeBase), never by
// the rules the PR brings. A merge that cannot be judged so is an
// errRulesUnclear.
func (w *Workflow) mergeTurn(ctx context.Context, installation int64, repo gh.Repo, pr gh.PullRequest) (*turn, error) {
	t, err := w.startTurn(ctx, installation, repo, pr)
	if err != nil {
		return nil, err
	}
	if t.base, err = t.mergeBase(ctx); err != nil {
		return nil, err
	}
	return t, t.readConfig(ctx)
}

// errNotServed is a repository the bot does not deploy (the allowlist).
var errNotServed = errors.New("repository not served by this bot (STAGEBOT_REPO_ALLOWLIST)")

func (w *Workflow) startTurn(ctx context.Context, installation int64, repo gh.Repo, pr gh.PullRequest) (*turn, error) {
	if w.Serves != nil && !w.Serves(repo.FullName()) {
		logging.From(ctx).Warn("not served: the repository is not on the allowlist", "repo", repo.FullName())
		return nil, errNotServed
	}
	client := newAskOnce(w.client(installation))
	clone, err := client.CloneInfo(ctx, repo)
	if err != nil {
		return nil, err
	}
	return &turn{w: w, client: client, repo: repo, pr: pr, src: runner.Source{URL: clone.URL, Token: clone.Token}}, nil
}

// readConfig reads stagebot.yaml at the turn's base.
func (t *turn) readConfig(ctx context.Context) error {
	data, err := t.client.FileContent(ctx, t.repo, config.RepoFile, t.base)
	if gh.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if t.cfg, err = config.ParseRepo(data, ""); err != nil {
		return configError{err}
	}
	return nil
}

// errRulesUnclear is a merge whose reviewed rules cannot be told apart
// from the rules the PR brings.
type errRulesUnclear struct{ why string }

func (e errRulesUnclear) Error() string { return e.why }

// mergeBase is the default branch's tip the PR was merged into: the
// merge commit's first parent (GitHub's merge and squash), or, for a
// rebase, the commit before the replayed ones. The merge commit must hold
// exactly what merging the PR's reviewed head into that tip gives (a merge
// made by hand can carry more); the second parent of a merge must be that
// head; every commit the default branch gained between the PR's base
// (GitHub's base.sha) and that tip must have come through a merged pull
// request (a commit pushed straight to the branch was never reviewed);
// and the tip's rules must be those of the PR's base. Otherwise the merge
// is not applied: nothing tells what it was reviewed against.
func (t *turn) mergeBase(ctx context.Context) (string, error) {
	sha := t.pr.MergeCommitSHA
	parents, err := t.w.Runner.Parents(ctx, t.src, sha)
	if err != nil {
		return "", err
	}
	switch {
	case len(parents) == 0 || len(parents) > 2:
		return "", errRulesUnclear{fmt.Sprintf("merge commit %s has %d parents, not those of a merge, squash or rebase", shortSHA(sha), len(parents))}
	case len(parents) == 2 && parents[1] != t.pr.HeadSHA:
		return "", errRulesUnclear{fmt.Sprintf("merge commit %s does not merge the pull request's head %s into the default branch as GitHub's merge does", shortSHA(sha), shortSHA(t.pr.HeadSHA))}
	}
	if t.pr.BaseSHA == "" {
		return "", errRulesUnclear{"GitHub gave no base for the pull request"}
	}
	tip, err := t.mergedInto(ctx, sha, parents)
	if err != nil {
		return "", err
	}
	if err := t.throughPullRequests(ctx, tip); err != nil {
		return "", err
	}
	if tip == t.pr.BaseSHA {
		return tip, nil
	}
	same, err := t.sameRules(ctx, tip, t.pr.BaseSHA)
	if err != nil {
		return "", err
	}
	if !same {
		return "", errRulesUnclear{fmt.Sprintf("`%s` or a policy differs between %s, the default branch the pull request was merged into, and %s, the base it was reviewed against", config.RepoFile, shortSHA(tip), shortSHA(t.pr.BaseSHA))}
	}
	return tip, nil
}

// mergedInto is the tip the merge commit sha merged the PR's head into:
// its first parent when sha holds exactly that merge, else, for a rebase
// of the PR's commits, the commit before them when sha holds exactly the
// merge into it.
func (t *turn) mergedInto(ctx context.Context, sha string, parents []string) (string, error) {
	got, err := t.w.Runner.Tree(ctx, t.src, sha)
	if err != nil {
		return "", err
	}
	candidates := []string{parents[0]}
	if len(parents) == 1 && t.pr.Commits > 1 {
		if before, err := t.w.Runner.Ancestor(ctx, t.src, sha, t.pr.Commits); err == nil {
			candidates = append(candidates, before)
		}
	}
	for _, tip := range candidates {
		want, clean, err := t.w.Runner.MergedTree(ctx, t.src, tip, t.pr.HeadSHA)
		if err != nil {
			return "", err
		}
		if clean && got == want {
			return tip, nil
		}
	}
	return "", errRulesUnclear{fmt.Sprintf("merge commit %s holds other changes than the merge of the pull request's reviewed head %s into the default branch", shortSHA(sha), shortSHA(t.pr.HeadSHA))}
}

// maxUnmergedWalk bounds the commits throughPullRequests asks GitHub of.
const maxUnmergedWalk = 100

// throughPullRequests checks that every commit the default branch gained
// from the PR's base to tip (its first parents) came with another merged
// pull request into it, as GitHub associates them. (What the branch held
// at the PR's base is trusted: see README, Known gaps.)
func (t *turn) throughPullRequests(ctx context.Context, tip string) error {
	if tip == t.pr.BaseSHA {
		return nil
	}
	commits, err := t.w.Runner.FirstParents(ctx, t.src, t.pr.BaseSHA, tip)
	if err != nil {
		return err
	}
	if len(commits) > maxUnmergedWalk {
		return errRulesUnclear{fmt.Sprintf("the default branch gained %d commits since the pull request's base %s; stagebot checks at most %d came through pull requests", len(commits), shortSHA(t.pr.BaseSHA), maxUnmergedWalk)}
	}
	for _, c := range commits {
		prs, err := t.client.MergedPullsOf(ctx, t.repo, c, t.repo.DefaultBranch)
		if err != nil {
			return err
		}
		// GitHub associates a PR's own commits with it: one of them pushed
		// straight to the branch is not thereby another PR's.
		prs = slices.DeleteFunc(prs, func(n int) bool { return n == t.pr.Number })
		if len(prs) == 0 {
			return errRulesUnclear{fmt.Sprintf("commit %s reached the default branch without a pull request, so nobody reviewed it; it is applied only through a pull request that brings it", shortSHA(c))}
		}
	}
	return nil
}

// sameRules reports whether stagebot.yaml and every policy file are the
// same at two commits. Every policy is a .rego file (stagebot.yaml's
// policy globs must end in .rego), so all of them are compared.
func (t *turn) sameRules(ctx context.Context, a, b string) (bool, error) {
	var read [2]map[string][]byte
	for i, sha := range []string{a, b} {
		files, err := t.w.Runner.ReadFiles(ctx, t.src, sha, []string{config.RepoFile, "**/*.rego"})
		if err != nil {
			return false, err
		}
		read[i] = files
	}
	return maps.EqualFunc(read[0], read[1], func(x, y []byte) bool { return string(x) == string(y) }), nil
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// notIntoDefaultBranch refuses command for a PR into another branch than
// the default one: its head holds that branch's commits too, which nobody
// reviewed here and whose pushers are not this PR's makers. nil for a PR
// into the default branch.
func (t *turn) notIntoDefaultBranch(command string) *comments.Refusal {
	base, def := t.pr.BaseRef, t.repo.DefaultBranch
	if base == "" || base == def {
		return nil
	}
	return &comments.Refusal{Command: command,
		Why:  fmt.Sprintf("this pull request goes into `%s`, not into the default branch `%s`: its plan carries the commits of `%s` too, which were not reviewed here.", base, def, base),
		Next: fmt.Sprintf("apply `%s` through its own pull request into `%s` first, or change this pull request's base to `%s`.", base, def, def)}
}

// rulesChanged are the files of the PR's diff that make the rules a change
// is judged by: stagebot.yaml and the policies of the base's stages. They
// take effect after the merge, never for the PR itself.
func (t *turn) rulesChanged(changed []string) []string {
	patterns := []string{config.RepoFile}
	for _, s := range t.cfg.Stages {
		patterns = append(patterns, s.Policies...)
	}
	var out []string
	for _, f := range changed {
		for _, p := range patterns {
			if ok, _ := doublestar.Match(p, f); ok {
				out = append(out, f)
				break
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// policies reads and compiles the policies of the named stages at the
// turn's base.
func (t *turn) policies(ctx context.Context, names []string) (map[string]*StagePolicy, error) {
	return t.w.loadPolicies(ctx, t.src, t.base, t.cfg, names)
}

// redaction is every secret the turn's texts must not show: the bot's
// credentials and what the repository's stages hold secret.
func (t *turn) redaction() *redact.Set { return t.w.redactor(t.repo.FullName()) }

// plan plans the affected stages in target's checkout, their upstream
// stages' secrets read first and everything written redacted with them.
// In the bot's GitHub paths this, and apply, are the only ways to
// Terraform: a plan or apply without a turn does not compile.
func (t *turn) plan(ctx context.Context, target PlanTarget, affected []stages.Affected) []StagePlanned {
	base := runner.Run{Repo: target.Repo, PR: target.PR, HeadSHA: target.HeadSHA, BaseSHA: target.BaseSHA, Trusted: target.Trusted}
	t.learnUpstream(ctx, target.Root, base, StageNames(readyOnly(affected)))
	return PlanStages(ctx, t.w.Runner, target, affected, t.redaction())
}

// learnUpstream reads, in the checkout at root, the outputs of every stage
// upstream of units, so that a value an upstream stage holds sensitive is
// redacted in what is written about them: a downstream plan reads it
// through terraform_remote_state, and its plan JSON does not mark it. It
// reads them in every turn, whatever this process saw before (another
// replica may have applied since, and a restarted bot knows nothing), once
// per checkout. A stage that cannot be read is logged: its own plan will
// say why.
func (t *turn) learnUpstream(ctx context.Context, root string, run runner.Run, units []string) {
	want := map[string]bool{}
	for _, u := range units {
		maps.Copy(want, t.cfg.Upstream(u))
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		key := root + "\x00" + name
		if t.learned[key] {
			continue
		}
		s := t.cfg.Stage(name)
		at := run
		at.Root = root
		r := stages.Run(*s, at)
		outs, err := t.w.Runner.StageOutputs(ctx, r)
		if err != nil {
			logging.From(ctx).Warn("could not read the outputs of an upstream stage for redaction", "stage", name, "error", t.redaction().Redact(err.Error()))
			continue
		}
		t.w.rememberOutputs(t.repo.FullName(), name, outs)
		if t.learned == nil {
			t.learned = map[string]bool{}
		}
		t.learned[key] = true
	}
}
