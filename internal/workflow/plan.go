package workflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/redact"
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
	// Trusted: the checkout is reviewed content of the default branch (a
	// merge), whose runs may share it (see runner.Run.Trusted).
	Trusted bool
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
	// Parallelism bounds how many instances of a stage plan at once.
	Parallelism int
	// RunURL is a run's page on the dashboard (nil: no dashboard).
	RunURL func(id string) string
	// RemovedVars holds, by unit, the file of each instance the change
	// deletes, as it was on the base: its destroy is planned with it.
	RemovedVars map[string][]byte
	// Rules are the rule files the PR changes, which do not judge it;
	// RulesBase is the commit whose rules do.
	Rules     []string
	RulesBase comments.RulesBase
	// Providers are, by stage, the provider code the change brings (see
	// turn.providerCodes): its comment warns, and its check run waits for
	// an approval that counts.
	Providers map[string]*comments.ProviderCode
	// Args and State are a /plan's arguments and a state operation, for
	// the one stage planned (see command.Command).
	Args  command.PlanArgs
	State *command.StateOp
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

// outcome is what the stage's plan leaves to do: nothing when it changes
// nothing or has nothing to plan (a removed instance with nothing to
// destroy), else an apply (or a fix and a new plan first).
func (sp StagePlanned) outcome() store.Outcome {
	switch {
	case sp.Err != nil || sp.Affected.Problem != "":
		return store.OutcomeApply
	case sp.Result != nil && sp.Result.Blocked() != nil:
		return store.OutcomeApply // a fix and a new plan first
	case sp.Result != nil && !sp.Result.HasChanges:
		return store.OutcomeNothing
	case sp.Result == nil && sp.Affected.Removed:
		return store.OutcomeNothing
	}
	return store.OutcomeApply
}

// PlanStages plans the affected stages that are ready, in order, and renders
// each stage's comment. Waiting stages get a comment that says so. Secrets
// (what secrets holds, and the sensitive values of the plans) are redacted.
// The instances of a stage are planned t.Parallelism at a time, each lane
// in its own copy of the checkout; what each keeps once its comment and
// check run are rendered is the plan's record and headline, not the plan
// (see runner.PlanResult.Lean), so that a push's memory grows with its
// comments, not its plans.
func PlanStages(ctx context.Context, r *runner.Runner, t PlanTarget, affected []stages.Affected, secrets *redact.Set) []StagePlanned {
	out := make([]StagePlanned, len(affected))
	for i := 0; i < len(affected); {
		j := i + 1
		for j < len(affected) && affected[i].Stage.Base != "" && affected[j].Stage.Base == affected[i].Stage.Base {
			j++
		}
		lanes := min(max(t.Parallelism, 1), j-i)
		next := make(chan int)
		var wg sync.WaitGroup
		for lane := range lanes {
			root, err := r.Lane(t.Root, lane)
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := range next {
					if err != nil {
						out[k] = StagePlanned{Affected: affected[k], Err: err}
						renderPlan(ctx, t, &out[k], comments.StagePlan{Error: err.Error()}, secrets)
						continue
					}
					out[k] = planStage(ctx, r, t, root, affected[k], secrets)
					if j-i > 1 {
						out[k].Result.Lean()
					}
				}
			}()
		}
		for k := i; k < j; k++ {
			next <- k
		}
		close(next)
		wg.Wait()
		i = j
	}
	return out
}

// planStage plans one affected stage (or instance) in the checkout at root.
func planStage(ctx context.Context, r *runner.Runner, t PlanTarget, root string, a stages.Affected, secrets *redact.Set) StagePlanned {
	sp := StagePlanned{Affected: a}
	var view comments.StagePlan
	for _, rep := range checkCharts(root, a.Files, t.Managed) {
		view.Checks = append(view.Checks, rep.Summary())
		view.ChecksFailed = view.ChecksFailed || !rep.OK()
	}
	st := a.Stage
	destroy := a.Removed && t.RemovedVars[st.Name] != nil
	if destroy {
		// The deleted file, as on the base, gives the instance's
		// variables; its destroy is planned with them.
		st.VarFile = filepath.ToSlash(filepath.Join(".stagebot-removed", st.Base+"-"+st.Instance+".tfvars"))
		if err := writeRemovedVars(root, st.VarFile, t.RemovedVars[st.Name]); err != nil {
			destroy, view.Error = false, err.Error()
		}
	}
	switch {
	case view.Error != "":
	case a.Problem != "":
		view.Error = a.Problem
	case a.Removed && !destroy:
		view.Removed = true
	case a.Ready():
		run := stages.Run(st, runner.Run{Repo: t.Repo, PR: t.PR, Redact: secrets, Root: root, HeadSHA: t.HeadSHA, BaseSHA: t.BaseSHA, Trusted: t.Trusted, Args: t.Args, State: t.State})
		run.Destroy, view.Destroying = destroy, destroy
		view.Unisolated = !r.Isolated()
		if !t.Args.Empty() {
			view.Targeted = t.Args.String()
		}
		if t.State != nil {
			view.StateOp = t.State.Command(st.Name)
		}
		sp.Result, sp.Err = r.Plan(ctx, run)
		var re *runner.RunError
		var se *runner.StepError
		switch {
		case errors.As(sp.Err, &se) && errors.As(sp.Err, &re):
			// The step's output is shown under its heading.
			view.Error, view.Steps = se.Error(), StepViews(re.Steps)
		case sp.Err != nil:
			view.Error = ErrorText(sp.Err)
			if errors.As(sp.Err, &re) {
				view.Steps = StepViews(re.Steps)
			}
		default:
			view.Plan, view.Text, view.Log = sp.Result.JSON, sp.Result.Text, sp.Result.Log
			view.Steps = StepViews(sp.Result.Steps)
		}
		if sp.Result != nil {
			view.Engine = sp.Result.Engine
		} else {
			view.Engine = r.EngineOf(run) // what would have planned
		}
		var ran string
		if sp.Result != nil {
			ran = sp.Result.RunID
		}
		view.RunURL = runLink(t.RunURL, ran, sp.Err)
	}
	renderPlan(ctx, t, &sp, view, secrets)
	return sp
}

// renderPlan completes a stage's view with what its policies say, and
// renders its comment and check run with the plan's own sensitive values
// redacted.
func renderPlan(ctx context.Context, t PlanTarget, sp *StagePlanned, view comments.StagePlan, secrets *redact.Set) {
	a := sp.Affected
	view.Stage, view.HeadSHA, view.WaitingFor, view.Reasons = a.Stage.Name, t.HeadSHA, a.WaitingFor, a.Reasons
	view.LockedBy, view.DriftIssue = t.LockedBy[a.Stage.Name], t.Drift[a.Stage.Name]
	view.Rules, view.RulesBase = t.Rules, t.RulesBase
	view.Providers = t.Providers[a.Stage.Name]
	red := secrets
	if sp.Result != nil {
		red = secrets.With(redact.PlanValues(sp.Result.JSON)...)
		if pol := t.Policies[a.Stage.Name]; pol != nil {
			sp.Policy = pol.evaluate(ctx, a.Stage.Name, sp.Result.JSON, red)
			if ap, ok := t.Approved[a.Stage.Name]; ok && sp.Policy.Denied() && covers(ap.Deny, denials(sp.Policy)) {
				sp.Policy.ApprovedBy, sp.Policy.ApprovedAt = ap.ApprovedBy, ap.ApprovedAt
			}
			view.Policy = sp.Policy
		}
	}
	sp.Comments, sp.Check = comments.Plan(view, red), comments.PlanCheck(view, red)
}

// covers reports whether an approval of the denials approved covers every
// denial of a plan: an approval is of what its plan was denied for, never
// of more.
func covers(approved, denied []string) bool {
	for _, d := range denied {
		if !slices.Contains(approved, d) {
			return false
		}
	}
	return true
}

// writeRemovedVars puts a deleted instance file's base content in the
// checkout at root (at rel), for its destroy plan.
// The checkout is the PR's: through os.Root, none of its symlinks leads
// the write out of it.
func writeRemovedVars(root, rel string, content []byte) error {
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("write the removed instance's variables: %w", err)
	}
	defer r.Close()
	if err := r.MkdirAll(filepath.Dir(filepath.FromSlash(rel)), 0o700); err != nil {
		return fmt.Errorf("write the removed instance's variables: %w", err)
	}
	if err := r.WriteFile(filepath.FromSlash(rel), content, 0o600); err != nil {
		return fmt.Errorf("write the removed instance's variables: %w", err)
	}
	return nil
}

// runLink is the dashboard page, made by link (nil: no dashboard), of the
// plan or apply recorded as id, or of the one that failed with err; "" when
// there is none.
func runLink(link func(string) string, id string, err error) string {
	var re *runner.RunError
	if errors.As(err, &re) {
		id = re.RunID
	}
	if link == nil || id == "" {
		return ""
	}
	return link(id)
}

// ErrorText is what a failed run shows: Terraform's own output when there
// is one, else the error.
func ErrorText(err error) string {
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

// StepViews are steps as comments show them.
func StepViews(steps []runner.StepResult) []comments.Step {
	out := make([]comments.Step, len(steps))
	for i, s := range steps {
		out[i] = comments.Step{Phase: s.Phase, Name: s.Name, Output: s.Output, Failure: s.Failure, WarnOnly: s.WarnOnly, Took: s.Took}
	}
	return out
}
