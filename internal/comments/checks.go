package comments

import (
	"fmt"
	"strings"

	"github.com/stagebot/stagebot/internal/redact"
)

// CheckRunName is the check run of a stage.
func CheckRunName(stage string) string { return "stagebot/" + stage }

// CheckOutput is what a stage's check run shows.
type CheckOutput struct {
	Status     string // in_progress or completed
	Conclusion string // success, neutral or failure (when completed)
	Title      string
	Summary    string
	Text       string
}

// PlanCheck renders a stage's check run for a finished plan: success when it
// has changes to apply, neutral when it has none or waits for an upstream
// apply, or while provider code from the PR waits for an approval that
// counts, failure when the plan failed. Summary is the headline and the
// destroy banner; Text is the plan, cut to GitHub's 65,535 characters.
func PlanCheck(p StagePlan, red *redact.Set) CheckOutput {
	v := planView(p, red)
	out := CheckOutput{Status: "completed"}
	switch {
	case v.Removed:
		out.Conclusion = "neutral"
		out.Title = "Instance file removed: not planned"
		out.Summary = removedText(v)
	case v.WaitingFor != "":
		out.Conclusion = "neutral"
		out.Title = "Waiting for " + strings.Join(p.WaitingFor, ", ") + " to be applied"
		out.Summary = fmt.Sprintf("This PR also changes %s, whose outputs `%s` reads; it is planned right after they are applied.", v.WaitingFor, p.Stage)
	case v.Error != "":
		out.Conclusion = "failure"
		out.Title = "Plan failed"
		out.Summary = "The plan of `" + p.Stage + "` failed; fix the error and push, or comment `/plan " + p.Stage + "`."
		out.Text = "```\n" + v.Error + "\n```"
	case v.None:
		out.Conclusion = "neutral"
		out.Title = "No changes"
		out.Summary = "The plan of `" + p.Stage + "` changes nothing."
	default:
		out.Conclusion = "success"
		out.Title = v.Headline
		var b strings.Builder
		fmt.Fprintf(&b, "**%s**\n", v.Headline)
		if len(v.Dangerous) > 0 {
			fmt.Fprintf(&b, "\n> [!CAUTION]\n> **This plan destroys or replaces %d resource(s):**\n", len(v.Dangerous))
			for _, a := range v.Dangerous {
				fmt.Fprintf(&b, "> - `%s`\n", a)
			}
		}
		fmt.Fprintf(&b, "\nTo apply, comment `/apply %s` on the pull request.\n", p.Stage)
		out.Summary = b.String()
		out.Text = "```\n" + v.Text + "\n```"
	}
	if pv := p.Policy; pv != nil && out.Conclusion == "success" && pv.Denied() {
		pc := PolicyCheckRun(*pv, v.Headline)
		out.Conclusion, out.Title, out.Summary = pc.Conclusion, pc.Title, pc.Summary
	}
	if p.Unisolated {
		out.Summary = UnisolatedNotice + "\n\n" + out.Summary
	}
	if pc := p.Providers; pc != nil {
		// Code only its maker has seen ran: the plan does not pass until
		// someone else approves it.
		if !pc.Approved() && out.Conclusion == "success" {
			out.Conclusion, out.Title = "neutral", "Provider code from the pull request: needs approval"
		}
		out.Summary = ProviderWarning(*pc) + "\n\n" + out.Summary
	}
	if p.ChecksFailed {
		if out.Conclusion != "failure" {
			out.Title = "Helm chart check failed"
		}
		out.Conclusion = "failure"
		out.Summary = strings.Join(p.Checks, "\n") + "\n\n" + out.Summary
	}
	if b := blockingStep(p.Steps); b != nil {
		if v.Error == "" {
			out.Title = fmt.Sprintf("Step %s (%s) failed", b.Name, b.Phase)
			out.Summary = fmt.Sprintf("The `%s` step `%s` of `%s` failed, so this plan cannot be applied: fix what it reports and push, or comment `/plan %s`.", b.Phase, b.Name, p.Stage, p.Stage)
		}
		out.Conclusion = "failure"
	}
	if v.Steps != "" {
		out.Summary += "\n\n" + v.Steps
	}
	if v.Targeted != "" {
		out.Title = "Targeted: " + out.Title
		out.Summary = "🎯 **Targeted plan:** `" + v.Targeted + "`: it changes only what these arguments name; once applied, the stage is planned again in full.\n\n" + out.Summary
	}
	if v.StateOp != "" {
		out.Summary = "🛠️ **State operation:** `" + v.StateOp + "`, applied only by `/apply " + p.Stage + "`.\n\n" + out.Summary
	}
	out.Title, out.Summary, out.Text = red.Redact(out.Title), red.Redact(out.Summary), red.Redact(out.Text)
	out.Summary = fitChecks(out.Summary)
	if runes(out.Text) > MaxCheckRunChars {
		text, _ := headTail(strings.TrimSuffix(strings.TrimPrefix(out.Text, "```\n"), "\n```"), MaxCheckRunChars-200)
		out.Text = "```\n" + text + "\n```"
	}
	return out
}

// fitChecks cuts a summary to the check run limit (it only grows past it
// with thousands of destroyed resources).
func fitChecks(s string) string {
	if runes(s) <= MaxCheckRunChars {
		return s
	}
	cut, _ := headTail(s, MaxCheckRunChars-200)
	return cut
}

// RunningCheck is a stage's check run while the bot works on it.
func RunningCheck(stage, what string) CheckOutput {
	return CheckOutput{Status: "in_progress", Title: what, Summary: fmt.Sprintf("stagebot is running `%s` of `%s`.", what, stage)}
}

// removedText says what becomes of an instance whose file a PR deletes.
func removedText(v view) string {
	return fmt.Sprintf("This pull request deletes the file of instance `%s` of stage `%s`, which the base branch does not have either: there is nothing of it to destroy.", v.Instance, v.Base)
}
