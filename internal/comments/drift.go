package comments

import (
	"fmt"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"

	"github.com/stagebot/stagebot/internal/redact"
)

// DriftLabel labels the bot's drift issues.
const DriftLabel = "stagebot-drift"

// DriftMarker is the hidden marker the bot finds a stage's drift issue by.
func DriftMarker(stage string) string {
	return fmt.Sprintf("<!-- stagebot:drift=%s -->", stage)
}

// StageDrift is a drift check of one stage: the plan of the default
// branch's tip against what is deployed.
type StageDrift struct {
	Stage  string
	Branch string
	SHA    string
	Plan   *tfjson.Plan
	Text   string
}

// Drifted reports whether the stage differs from its code: resources
// changed outside Terraform, or a plan of the default branch that would
// change something.
func (d StageDrift) Drifted() bool { return d.Changes() > 0 }

// Changes counts what differs: resources changed outside Terraform, and
// resources and outputs the plan would change.
func (d StageDrift) Changes() int {
	counts, _ := Summary(d.Plan)
	return len(Drift(d.Plan)) + counts.Add + counts.Change + counts.Destroy + counts.Replace + counts.Import + counts.Move
}

// DriftIssue renders a stage's drift issue: its title and body. The body
// stays the same while the drift does, so a check that finds nothing new
// leaves the issue alone.
func DriftIssue(d StageDrift, red *redact.Set) (string, string) {
	title := fmt.Sprintf("Drift in stage `%s`", d.Stage)
	counts, groups := Summary(d.Plan)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n### ⚠️ `%s` has drifted from `%s`\n\n", DriftMarker(d.Stage), d.Stage, d.Branch)
	fmt.Fprintf(&b, "What is deployed differs from `%s` at %s: someone changed it outside a pull request, or a change was merged and never applied. "+
		"Until this is resolved, every plan of `%s` includes undoing it. stagebot updates this issue at each check and closes it when the drift is gone.\n\n", d.Branch, ShortSHA(d.SHA), d.Stage)
	if drift := Drift(d.Plan); len(drift) > 0 {
		b.WriteString("**Changed outside of Terraform**\n")
		for _, a := range capList(drift) {
			fmt.Fprintf(&b, "- `%s`\n", a)
		}
		b.WriteString("\n")
	}
	if !counts.None() {
		fmt.Fprintf(&b, "**A plan of `%s` would: %s**\n", d.Branch, counts.Headline())
		for _, g := range groupTitles {
			if g.key == groupRead {
				continue // reading a data source changes nothing
			}
			for _, a := range capList(groups[g.key]) {
				fmt.Fprintf(&b, "- %s `%s`\n", strings.ToLower(g.title), a)
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("**To resolve it**, either open a pull request that makes the code match what is deployed, or apply the default branch again through a pull request to undo the change.\n")
	text, _ := headTail(fence(red.Redact(strings.TrimSpace(d.Text))), 40000)
	fmt.Fprintf(&b, "\n<details><summary>Plan of %s</summary>\n\n```\n%s\n```\n\n</details>\n", ShortSHA(d.SHA), text)
	return title, red.Redact(b.String())
}

// DriftResolved is the comment on a drift issue the bot closes.
func DriftResolved(stage, branch, sha string) string {
	return fmt.Sprintf("✅ `%s` matches `%s` at %s again: no drift. Closing.", stage, branch, ShortSHA(sha))
}
