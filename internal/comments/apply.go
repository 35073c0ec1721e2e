package comments

import (
	"fmt"
	"github.com/stagebot/stagebot/internal/redact"
	"regexp"
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
)

// Output is one stage output as the apply comment shows it.
type Output struct {
	Name      string
	Sensitive bool
	// Value is the output's JSON value; never shown when Sensitive.
	Value string
}

// StageApply is everything a stage's apply comment shows.
type StageApply struct {
	Stage   string
	HeadSHA string
	// Plan is the plan that was applied.
	Plan    *tfjson.Plan
	Outputs []Output
	// Log is what terraform apply printed.
	Log string
	// Error is the failure with Terraform's output; empty on success.
	Error string
	// Notes are extra lines (e.g. which secret keys the bot synced).
	Notes []string
	// Engine is what applied: "Terraform 1.13.3", "OpenTofu 1.12.6".
	Engine string
	// RunURL is the run's page on the dashboard ("" when there is none).
	RunURL string
	// Steps are what the stage's pre_apply and post_apply steps did.
	Steps []Step
}

var failedResource = regexp.MustCompile(`(?m)^\s*[│]?\s*with ([A-Za-z0-9_.\-\[\]"]+),`)

// FailedResources finds the resources Terraform names in its errors
// ("with terraform_data.x,").
func FailedResources(output string) []string {
	var out []string
	for _, m := range failedResource.FindAllStringSubmatch(output, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

// Apply renders a stage's apply result. Sensitive outputs are never shown,
// and every known secret is redacted.
func Apply(a StageApply, red *redact.Set) []string {
	var values []string
	for _, o := range a.Outputs {
		if o.Sensitive {
			values = append(values, o.Value, strings.Trim(o.Value, `"`))
		}
	}
	red = red.With(append(values, redact.PlanValues(a.Plan)...)...)
	var b strings.Builder
	b.WriteString(Marker(a.Stage) + "\n")
	counts, _ := Summary(a.Plan)
	engine := ""
	if a.Engine != "" {
		engine = " · " + a.Engine
	}
	if a.Error != "" {
		fmt.Fprintf(&b, "### ❌ stagebot apply failed: `%s` at %s%s\n\n", a.Stage, ShortSHA(a.HeadSHA), engine)
		switch failed := FailedResources(a.Error); {
		case strings.Contains(a.Error, "Saved plan is stale"):
			fmt.Fprintf(&b, "**The plan is stale:** the stage's state changed after it was made (another apply), so Terraform refused it and applied nothing. Comment `/plan %s`, review the new plan, then `/apply %s`.\n\n", a.Stage, a.Stage)
		case len(failed) > 0:
			fmt.Fprintf(&b, "Failing resource(s): `%s`\n\n", strings.Join(failed, "`, `"))
			fallthrough
		default:
			b.WriteString("Terraform may have applied part of the plan. The stage stays locked to this PR; fix the error, push, and `/apply` again after the new plan.\n\n")
		}
		fmt.Fprintf(&b, "```\n%s\n```\n", fence(red.Redact(strings.TrimSpace(a.Error))))
	} else {
		fmt.Fprintf(&b, "### ✅ stagebot applied `%s` at %s%s\n\n**%s**\n", a.Stage, ShortSHA(a.HeadSHA), engine, strings.Replace(counts.Headline(), "to ", "", -1))
	}
	for _, n := range a.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	if steps := Steps(a.Steps, red); steps != "" {
		b.WriteString("\n" + steps)
	}
	if len(a.Outputs) > 0 {
		b.WriteString("\n| output | value |\n|---|---|\n")
		for _, o := range a.Outputs {
			val := "(sensitive, not shown)"
			if !o.Sensitive {
				val = "`" + strings.ReplaceAll(red.Redact(o.Value), "`", "'") + "`"
				if runes(val) > 200 {
					val = string([]rune(val)[:200]) + "…`"
				}
			}
			fmt.Fprintf(&b, "| `%s` | %s |\n", o.Name, strings.ReplaceAll(val, "|", "\\|"))
		}
	}
	if a.Log != "" {
		fmt.Fprintf(&b, "\n<details><summary>Apply output</summary>\n\n```\n%s\n```\n\n</details>\n", fence(red.Redact(strings.TrimSpace(a.Log))))
	}
	if a.RunURL != "" {
		fmt.Fprintf(&b, "\n<sub>[This run on stagebot's dashboard](%s)</sub>\n", a.RunURL)
	}
	return Split(red.Redact(b.String()), MaxCommentChars, func(i, n int) string {
		return fmt.Sprintf("%s\n#### stagebot apply: `%s` (part %d of %d)\n\n", PartMarker(a.Stage, i), a.Stage, i, n)
	})
}
