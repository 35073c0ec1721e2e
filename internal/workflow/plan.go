package workflow

import (
	"context"
	"errors"
	"github.com/stagebot/stagebot/internal/redact"
	"path/filepath"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/store"
)

// PlanTarget is a checkout to plan stages in.
type PlanTarget struct {
	Repo    string // owner/name
	PR      int
	Root    string // the checkout's directory of the repository root
	HeadSHA string
	BaseSHA string
	// LockedBy maps a stage to the other PR that holds its lock.
	LockedBy map[string]int
	// Drift maps a stage to its open drift issue.
	Drift map[string]int
	// Managed are the objects the bot writes itself: a chart must not
	// render them.
	Managed []kube.Object
	// Policies are the policies of the stages that have any.
	Policies map[string]*StagePolicy
	// Approved are approvals of denied plans that carry over (a merge
	// commit's plan, from the PR's plan at its merged head).
	Approved map[string]store.PolicyCheck
}

// StagePlanned is one affected stage after planning (or not, when it waits).
type StagePlanned struct {
	Affected stages.Affected
	Result   *runner.PlanResult
	Err      error
	// Comments are the stage's comment: one, or more parts when long.
	Comments []string
	Check    comments.CheckOutput
	// Policy is what the stage's policies said of the plan (nil when the
	// stage has none, or its plan failed).
	Policy *comments.PolicyView
}

// PlanStages plans the affected stages that are ready, in order, and renders
// each stage's comment. Waiting stages get a comment that says so. Secrets
// (what secrets holds, and the sensitive values of the plans) are redacted.
func PlanStages(ctx context.Context, r *runner.Runner, t PlanTarget, affected []stages.Affected, secrets *redact.Set) []StagePlanned {
	out := make([]StagePlanned, 0, len(affected))
	for _, a := range affected {
		sp := StagePlanned{Affected: a}
		view := comments.StagePlan{Stage: a.Stage.Name, HeadSHA: t.HeadSHA, WaitingFor: a.WaitingFor, Reasons: a.Reasons, LockedBy: t.LockedBy[a.Stage.Name], DriftIssue: t.Drift[a.Stage.Name]}
		for _, rep := range checkCharts(t.Root, a.Files, t.Managed) {
			view.Checks = append(view.Checks, rep.Summary())
			view.ChecksFailed = view.ChecksFailed || !rep.OK()
		}
		if a.Ready() {
			run := runner.Run{
				Repo: t.Repo, PR: t.PR, Stage: a.Stage.Name, Redact: secrets,
				Root:    t.Root,
				Dir:     filepath.Join(t.Root, filepath.FromSlash(a.Stage.Dir)),
				HeadSHA: t.HeadSHA, BaseSHA: t.BaseSHA, BackendConfig: a.Stage.BackendConfig,
				Engine: a.Stage.TerraformBin,
			}
			view.Engine = r.EngineOf(run)
			sp.Result, sp.Err = r.Plan(ctx, run)
			if sp.Err != nil {
				view.Error = errorText(sp.Err)
			} else {
				view.Plan, view.Text, view.Log = sp.Result.JSON, sp.Result.Text, sp.Result.Log
			}
		}
		red := secrets
		if sp.Result != nil {
			red = secrets.With(redact.PlanValues(sp.Result.JSON)...)
			if pol := t.Policies[a.Stage.Name]; pol != nil {
				sp.Policy = pol.evaluate(ctx, a.Stage.Name, sp.Result.JSON, red)
				if ap, ok := t.Approved[a.Stage.Name]; ok && sp.Policy.Denied() {
					sp.Policy.ApprovedBy, sp.Policy.ApprovedAt = ap.ApprovedBy, ap.ApprovedAt
				}
				view.Policy = sp.Policy
			}
		}
		sp.Comments = comments.Plan(view, red)
		sp.Check = comments.PlanCheck(view, red)
		out = append(out, sp)
	}
	return out
}

// errorText is what a failed run shows: Terraform's own output when there
// is one, else the error.
func errorText(err error) string {
	var re *runner.RunError
	if errors.As(err, &re) && strings.Contains(re.Output, "Error: ") {
		return re.Output // Terraform said what went wrong
	}
	if errors.As(err, &re) && re.Output != "" {
		return re.Err.Error() + "\n\n" + re.Output
	}
	return err.Error()
}

// checkCharts lints and renders the Helm charts (directories under charts/
// with a Chart.yaml) that changed files belong to.
func checkCharts(root string, files []string, managed []kube.Object) []kube.ChartReport {
	namespace := "default"
	if len(managed) > 0 {
		namespace = managed[0].Namespace
	}
	var reports []kube.ChartReport
	seen := map[string]bool{}
	for _, f := range files {
		parts := strings.SplitN(f, "/", 3)
		if len(parts) < 3 || parts[0] != "charts" || seen[parts[1]] {
			continue
		}
		seen[parts[1]] = true
		dir := filepath.Join(root, "charts", parts[1])
		if kube.IsChart(dir) {
			reports = append(reports, kube.CheckChart(dir, namespace, nil, managed))
		}
	}
	return reports
}
