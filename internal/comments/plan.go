package comments

import (
	"fmt"
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Marker is the hidden marker the bot finds its comment for a stage by.
func Marker(stage string) string {
	return fmt.Sprintf("<!-- stagebot:stage=%s -->", stage)
}

// StagePlan is everything a stage's plan comment shows.
type StagePlan struct {
	Stage   string
	HeadSHA string
	// Plan and Text are the plan as JSON and as `terraform show` printed it;
	// nil/empty when the stage failed or waits.
	Plan *tfjson.Plan
	Text string
	// Log is what init and plan printed (warnings are taken from it).
	Log string
	// Error is the failure, with Terraform's output; empty on success.
	Error string
	// WaitingFor lists upstream stages to apply first.
	WaitingFor []string
	// Reasons lists the changed files that affect the stage.
	Reasons []string
	// LockedBy is the PR holding the stage's lock, 0 when none does.
	LockedBy int
	// DriftIssue is the stage's open drift issue, 0 when it has none.
	DriftIssue int
	// Checks are further results shown with the plan (Helm chart checks),
	// as Markdown; ChecksFailed makes the stage's check run fail.
	Checks       []string
	ChecksFailed bool
	// Policy is what the stage's policies said of the plan; nil when the
	// stage has none (or was not planned).
	Policy *PolicyView
	// Engine is what planned: "Terraform 1.13.3", "OpenTofu 1.12.6".
	Engine string
	// Removed is an instance whose file the PR deletes, with nothing to
	// destroy: not planned. Destroying is one whose destroy is planned.
	Removed, Destroying bool
	// RunURL is the run's page on the dashboard ("" when there is none).
	RunURL string
	// Rules are the rule files (stagebot.yaml, policies) the PR changes;
	// RulesBase is whose rules judge it instead.
	Rules     []string
	RulesBase RulesBase
	// Providers is the provider code the PR brings to the stage; nil when
	// its providers are the base's.
	Providers *ProviderCode
	// Unisolated: the plan ran without the sandbox (STAGEBOT_SANDBOX=none),
	// as the bot's own user.
	Unisolated bool
	// Steps are what the stage's pre_plan and post_plan steps did; one
	// that fails its phase fails the check run.
	Steps []Step
	// Targeted are a /plan's arguments (-target=…) when it had any: the
	// plan leaves out what they do not name.
	Targeted string
	// StateOp is the state operation (/import, /state rm, /state mv) the
	// plan makes, as its command was written.
	StateOp string
}

// UnisolatedNotice says, in a plan comment and its check run, that the
// plan ran without isolation.
const UnisolatedNotice = "> ⚠️ **Not isolated.** This plan ran with `STAGEBOT_SANDBOX=none`: the pull request's code ran as the bot's own user and could read what the bot can (its data dir, saved plans, other checkouts)."

// Counts is a plan's headline.
type Counts struct {
	Add, Change, Destroy, Replace, Import, Move, Forget int
}

// None reports whether the plan changes nothing.
func (c Counts) None() bool { return c == Counts{} }

// Headline is "+N to add, ~N to change, -N to destroy, ±N to replace", with
// imports and moves when there are any, or "No changes".
func (c Counts) Headline() string {
	if c.None() {
		return "No changes"
	}
	parts := []string{
		fmt.Sprintf("+%d to add", c.Add),
		fmt.Sprintf("~%d to change", c.Change),
		fmt.Sprintf("-%d to destroy", c.Destroy),
		fmt.Sprintf("±%d to replace", c.Replace),
	}
	if c.Import > 0 {
		parts = append(parts, fmt.Sprintf("%d to import", c.Import))
	}
	if c.Move > 0 {
		parts = append(parts, fmt.Sprintf("%d to move", c.Move))
	}
	if c.Forget > 0 {
		parts = append(parts, fmt.Sprintf("%d to remove from the state", c.Forget))
	}
	return strings.Join(parts, ", ")
}

// Change groups: how a resource changes, as reviewers read it.
const (
	groupReplace = "replace"
	groupDestroy = "destroy"
	groupCreate  = "create"
	groupUpdate  = "update"
	groupImport  = "import"
	groupMove    = "move"
	groupForget  = "forget"
	groupRead    = "read"
)

// Summary counts and groups a plan's resource changes.
func Summary(p *tfjson.Plan) (Counts, map[string][]string) {
	var c Counts
	groups := map[string][]string{}
	if p == nil {
		return c, groups
	}
	for _, rc := range p.ResourceChanges {
		if rc.Change == nil {
			continue
		}
		a := rc.Change.Actions
		switch {
		case a.Replace():
			c.Replace++
			groups[groupReplace] = append(groups[groupReplace], rc.Address)
		case a.Delete():
			c.Destroy++
			groups[groupDestroy] = append(groups[groupDestroy], rc.Address)
		case a.Create():
			c.Add++
			groups[groupCreate] = append(groups[groupCreate], rc.Address)
		case a.Update():
			c.Change++
			groups[groupUpdate] = append(groups[groupUpdate], rc.Address)
		case a.Read():
			groups[groupRead] = append(groups[groupRead], rc.Address)
		case a.Forget():
			c.Forget++
			groups[groupForget] = append(groups[groupForget], rc.Address)
		}
		if rc.Change.Importing != nil {
			c.Import++
			groups[groupImport] = append(groups[groupImport], rc.Address)
		}
		if rc.PreviousAddress != "" && rc.PreviousAddress != rc.Address {
			c.Move++
			groups[groupMove] = append(groups[groupMove], rc.PreviousAddress+" → "+rc.Address)
		}
	}
	for _, g := range groups {
		slices.Sort(g)
	}
	return c, groups
}

// Drift lists resources changed outside of Terraform since the last apply.
func Drift(p *tfjson.Plan) []string {
	if p == nil {
		return nil
	}
	var out []string
	for _, rc := range p.ResourceDrift {
		if rc.Change == nil || rc.Change.Actions.NoOp() {
			continue
		}
		out = append(out, fmt.Sprintf("%s (%s)", rc.Address, actionWord(rc.Change.Actions)))
	}
	slices.Sort(out)
	return out
}

func actionWord(a tfjson.Actions) string {
	switch {
	case a.Delete():
		return "deleted"
	case a.Update():
		return "changed"
	case a.Create():
		return "created"
	}
	return fmt.Sprint(a)
}
