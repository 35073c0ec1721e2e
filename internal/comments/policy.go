package comments

import (
	"fmt"
	"strings"
	"time"
)

// PolicyView is what a stage's policies said of its plan.
type PolicyView struct {
	Stage string
	// Files are the policy files, as in the repository.
	Files []string
	Deny  []string
	Warn  []string
	// Error is why the policies could not be evaluated (a broken policy on
	// the default branch): it counts as a denial.
	Error string
	// Owners names who may approve a denied plan ("" when nobody may).
	Owners string
	// ApprovedBy approved the denied plan at ApprovedAt ("" when nobody).
	ApprovedBy string
	ApprovedAt time.Time
}

// Denied reports whether the plan fails its policies.
func (v PolicyView) Denied() bool { return len(v.Deny) > 0 || v.Error != "" }

// Blocked reports whether the policies keep the plan from being applied.
func (v PolicyView) Blocked() bool { return v.Denied() && v.ApprovedBy == "" }

const (
	policyStart = "<!-- stagebot:policy -->"
	policyEnd   = "<!-- /stagebot:policy -->"
)

// PolicySection renders the policy verdict of a plan comment, between
// markers so that an approval can replace it (ReplacePolicySection).
func PolicySection(v PolicyView) string {
	var b strings.Builder
	b.WriteString(policyStart + "\n")
	files := "`" + strings.Join(v.Files, "`, `") + "`"
	switch {
	case !v.Denied():
		fmt.Fprintf(&b, "🛡️ **Policies passed** (%s).\n", files)
	case v.ApprovedBy != "":
		fmt.Fprintf(&b, "> [!NOTE]\n> 🛡️ **Policy denial approved** by @%s at %s, for this plan only. It may be applied.\n>\n", v.ApprovedBy, v.ApprovedAt.UTC().Format("2006-01-02 15:04 UTC"))
		writeDenials(&b, v)
	default:
		next := "Nobody may approve it (the stage has no `policy_owners`): change the pull request so that the policies pass."
		if v.Owners != "" {
			next = fmt.Sprintf("It cannot be applied unless a policy owner (%s) approves it by commenting `/approve %s`.", v.Owners, v.Stage)
		}
		fmt.Fprintf(&b, "> [!CAUTION]\n> 🛡️ **Denied by policy** (%s). %s\n>\n", files, next)
		writeDenials(&b, v)
	}
	for _, w := range v.Warn {
		fmt.Fprintf(&b, "- ⚠️ %s\n", oneLine(w))
	}
	b.WriteString(policyEnd)
	return b.String()
}

func writeDenials(b *strings.Builder, v PolicyView) {
	if v.Error != "" {
		fmt.Fprintf(b, "> - ❌ the policies could not be evaluated: %s\n", oneLine(v.Error))
	}
	for _, d := range v.Deny {
		fmt.Fprintf(b, "> - ❌ %s\n", oneLine(d))
	}
}

// oneLine keeps a message on one line and out of Markdown's way.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500]) + "…"
	}
	return strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(s)
}

// ReplacePolicySection puts section in place of the policy section of a
// plan comment; ok is false when the comment has none.
func ReplacePolicySection(body, section string) (string, bool) {
	i := strings.Index(body, policyStart)
	j := strings.Index(body, policyEnd)
	if i < 0 || j < i {
		return body, false
	}
	return body[:i] + section + body[j+len(policyEnd):], true
}

// PolicyCheckRun is the check run of a plan whose policies deny it: a
// failure until an owner approves it, then a success that says so.
func PolicyCheckRun(v PolicyView, headline string) CheckOutput {
	out := CheckOutput{Status: "completed", Conclusion: "failure", Title: "Denied by policy"}
	if v.ApprovedBy != "" {
		out.Conclusion, out.Title = "success", "Policy denial approved by @"+v.ApprovedBy
	}
	out.Summary = "**" + headline + "**\n\n" + PolicySection(v)
	return out
}

// PolicyDenied refuses an apply of a plan the stage's policies deny and
// nobody approved.
func PolicyDenied(command, stage string, deny []string, owners string) Refusal {
	var b strings.Builder
	fmt.Fprintf(&b, "the plan of `%s` is denied by its policies:\n", stage)
	for _, d := range deny {
		fmt.Fprintf(&b, "- %s\n", oneLine(d))
	}
	next := "change the pull request so that the policies pass (the stage has no `policy_owners` who could approve it)."
	if owners != "" {
		next = fmt.Sprintf("fix what the policies deny and push, or ask a policy owner (%s) to comment `/approve %s`; then comment `%s` again.", owners, stage, command)
	}
	return Refusal{Command: command, Why: b.String(), Next: next}
}
