// Package drift finds changes made to a repository's stages outside pull
// requests: it plans each stage at the default branch's tip and reports
// what differs in one GitHub issue per stage (updated in place, closed when
// the drift is gone), a check run on the tip, and a Prometheus gauge. A
// drift check never takes a stage lock and never applies.
package drift

import (
	"context"
	"fmt"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// GitHub is what a drift check reads and writes.
type GitHub interface {
	CloneInfo(ctx context.Context, repo gh.Repo) (gh.Clone, error)
	Issues(ctx context.Context, repo gh.Repo, label, state string) ([]gh.Issue, error)
	CreateIssue(ctx context.Context, repo gh.Repo, is gh.Issue, marker string) (gh.Issue, error)
	EditIssue(ctx context.Context, repo gh.Repo, is gh.Issue) error
	UpsertComment(ctx context.Context, repo gh.Repo, number int, marker, body string) (gh.Comment, error)
	CreateCheckRun(ctx context.Context, repo gh.Repo, cr gh.CheckRun) (int64, error)
	UpdateCheckRun(ctx context.Context, repo gh.Repo, id int64, cr gh.CheckRun) error
	FindCheckRun(ctx context.Context, repo gh.Repo, sha, name string) (int64, error)
}

// Store keeps each stage's last drift check (for the PR comments).
type Store interface {
	SetDrift(ctx context.Context, repo, stage string, d store.DriftState) error
}

// CheckName is the check run of drift checks, on the default branch's tip.
const CheckName = "stagebot/drift"

// Checker runs drift checks.
type Checker struct {
	Runner *runner.Runner
	Store  Store
	// Changes is the gauge of what differs per repository and stage.
	Changes *prometheus.GaugeVec
}

// NewGauge is the drift gauge, registered with reg.
func NewGauge(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "stagebot_drift_changes",
		Help: "What differs between a stage and its default branch at the last drift check: resources changed outside Terraform plus changes a plan would make (0: no drift).",
	}, []string{"repo", "stage"})
	return g, reg.Register(g)
}

// Result is one stage's drift check.
type Result struct {
	Stage   string
	Changes int
	Issue   int
	Err     error
	// Found: this check opened the stage's drift issue; Gone: it closed
	// it (the drift was undone).
	Found, Gone bool
}

// Secrets returns what a drift check must not show, once it has read, in
// the checkout at root, what the stages upstream of units hold secret
// (run is the check's own run, to read them with).
type Secrets func(ctx context.Context, root string, run runner.Run, units []config.Stage) *redact.Set

// Check plans the stages cfg names for drift at the tip of the default
// branch, and reports each. What secrets returns is redacted.
func (c *Checker) Check(ctx context.Context, client GitHub, repo gh.Repo, cfg *config.Repo, secrets Secrets) ([]Result, error) {
	clone, err := client.CloneInfo(ctx, repo)
	if err != nil {
		return nil, err
	}
	src := runner.Source{URL: clone.URL, Token: clone.Token}
	sha, err := c.Runner.BranchTip(ctx, src, repo.DefaultBranch)
	if err != nil {
		return nil, err
	}
	ws := c.Runner.WorkspaceDir(repo.FullName(), 0, sha)
	if err := c.Runner.Checkout(ctx, src, sha, ws); err != nil {
		return nil, err
	}
	checkID, err := c.startCheck(ctx, client, repo, sha)
	if err != nil {
		return nil, err
	}
	open, err := client.Issues(ctx, repo, comments.DriftLabel, "open")
	if err != nil {
		return nil, err
	}
	var results []Result
	units, err := driftUnits(cfg, ws)
	if err != nil {
		return nil, err
	}
	red := secrets(ctx, ws, runner.Run{Repo: repo.FullName(), Root: ws, HeadSHA: sha, BaseSHA: sha, Trusted: true}, units)
	for _, s := range units {
		run := stages.Run(s, runner.Run{Repo: repo.FullName(), Root: ws, HeadSHA: sha, BaseSHA: sha, Redact: red, Trusted: true})
		res := c.checkStage(ctx, client, repo, run, open, red)
		results = append(results, res)
	}
	if err := c.Runner.PruneWorkspaces(repo.FullName(), 0, sha); err != nil {
		return results, err
	}
	return results, c.finishCheck(ctx, client, repo, sha, checkID, results)
}

// checkStage plans one stage and brings its issue, record and gauge up to
// date. A failed plan changes none of them: it says nothing of drift.
func (c *Checker) checkStage(ctx context.Context, client GitHub, repo gh.Repo, run runner.Run, open []gh.Issue, red *redact.Set) Result {
	res := Result{Stage: run.Stage}
	plan, err := c.Runner.Plan(ctx, run)
	if err != nil {
		res.Err = err
		return res
	}
	// Never applied: the plan is only looked at.
	c.Runner.DiscardPlan(ctx, run)
	d := comments.StageDrift{Stage: run.Stage, Branch: repo.DefaultBranch, SHA: run.HeadSHA, Plan: plan.JSON, Text: plan.Text}
	res.Changes = d.Changes()
	var existing *gh.Issue
	for i := range open {
		if strings.Contains(open[i].Body, comments.DriftMarker(run.Stage)) {
			existing = &open[i]
		}
	}
	switch {
	case res.Changes > 0:
		title, body := comments.DriftIssue(d, red.With(redact.PlanValues(plan.JSON)...))
		if existing == nil {
			made, err := client.CreateIssue(ctx, repo, gh.Issue{Title: title, Body: body, Labels: []string{comments.DriftLabel}}, comments.DriftMarker(run.Stage))
			if err != nil {
				res.Err = err
				return res
			}
			res.Issue, res.Found = made.Number, true
		} else {
			res.Issue = existing.Number
			if existing.Body != body || existing.Title != title {
				if err := client.EditIssue(ctx, repo, gh.Issue{Number: existing.Number, Title: title, Body: body, State: "open"}); err != nil {
					res.Err = err
					return res
				}
			}
		}
	case existing != nil:
		marker := "<!-- stagebot:drift-resolved -->"
		if _, err := client.UpsertComment(ctx, repo, existing.Number, marker, marker+"\n"+comments.DriftResolved(run.Stage, repo.DefaultBranch, run.HeadSHA)); err != nil {
			res.Err = err
			return res
		}
		if err := client.EditIssue(ctx, repo, gh.Issue{Number: existing.Number, Title: existing.Title, Body: existing.Body, State: "closed"}); err != nil {
			res.Err = err
			return res
		}
		res.Gone = true
	}
	if c.Changes != nil {
		c.Changes.WithLabelValues(repo.FullName(), run.Stage).Set(float64(res.Changes))
	}
	if err := c.Store.SetDrift(ctx, repo.FullName(), run.Stage, store.DriftState{Drifted: res.Changes > 0, Changes: res.Changes, Issue: res.Issue, CheckedSHA: run.HeadSHA}); err != nil {
		res.Err = err
	}
	return res
}

func (c *Checker) startCheck(ctx context.Context, client GitHub, repo gh.Repo, sha string) (int64, error) {
	return gh.UpsertCheckRun(ctx, client, repo, 0, gh.CheckRun{Name: CheckName, HeadSHA: sha, Status: "in_progress", Title: "Looking for drift", Summary: "stagebot is planning the stages at this commit to find changes made outside pull requests."})
}

func (c *Checker) finishCheck(ctx context.Context, client GitHub, repo gh.Repo, sha string, id int64, results []Result) error {
	cr := gh.CheckRun{Name: CheckName, HeadSHA: sha, Status: "completed", Conclusion: "success", Title: "No drift"}
	var lines []string
	drifted, failed := 0, 0
	for _, r := range results {
		switch {
		case r.Err != nil:
			failed++
			lines = append(lines, fmt.Sprintf("- `%s`: the check failed: %s", r.Stage, firstLine(r.Err.Error())))
		case r.Changes > 0:
			drifted++
			lines = append(lines, fmt.Sprintf("- `%s`: **drift**, %d change(s), see #%d", r.Stage, r.Changes, r.Issue))
		default:
			lines = append(lines, fmt.Sprintf("- `%s`: no drift", r.Stage))
		}
	}
	switch {
	case drifted > 0:
		cr.Conclusion, cr.Title = "failure", fmt.Sprintf("Drift in %d stage(s)", drifted)
	case failed > 0:
		cr.Conclusion, cr.Title = "neutral", fmt.Sprintf("The drift check of %d stage(s) failed", failed)
	}
	cr.Summary = strings.Join(lines, "\n")
	return client.UpdateCheckRun(ctx, repo, id, cr)
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// Summary is a line per stage of results, for a reply to /drift.
func Summary(results []Result) string {
	var b strings.Builder
	for _, r := range results {
		switch {
		case r.Err != nil:
			fmt.Fprintf(&b, "- `%s`: the check failed: %s\n", r.Stage, firstLine(r.Err.Error()))
		case r.Changes > 0:
			fmt.Fprintf(&b, "- `%s`: **drift** (%d change(s)), see #%d\n", r.Stage, r.Changes, r.Issue)
		default:
			fmt.Fprintf(&b, "- `%s`: no drift\n", r.Stage)
		}
	}
	return b.String()
}

// driftUnits are the stages drift checks, each instance of an instanced
// stage on its own (its own state, its own issue).
func driftUnits(cfg *config.Repo, root string) ([]config.Stage, error) {
	all, err := cfg.Units(root)
	if err != nil {
		return nil, err
	}
	if cfg.Drift == nil || len(cfg.Drift.Stages) == 0 {
		return all, nil
	}
	names := cfg.Drift.Stages // stages, or instances (/drift tenant:acme)
	var out []config.Stage
	for _, s := range all {
		if config.IsStageOrUnitOf(names, s) {
			out = append(out, s)
		}
	}
	return out, nil
}
