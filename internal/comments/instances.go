package comments

import (
	"fmt"
	"slices"
	"strings"
)

// Section is what one instance of a stage shows: its plan, apply or
// refusal as rendered for it alone (Plan, Apply, a refusal), by unit name
// (tenant:acme).
type Section struct {
	Unit string
	Body string
}

// maxTableRows bounds the instance table; the check runs have the rest.
const maxTableRows = 1000

// Instances renders the one comment of an instanced stage from the
// sections of its instances: a table of every instance's state, then the
// sections that need reading (failures and destroys first, then changes,
// then applies with their outputs; an instance with no changes is a table
// row only). Sections that do not
// fit in MaxParts comments are left to their check runs, and the table
// says so. Each part is within GitHub's limit.
func Instances(stage string, sections []Section) []string {
	rows := instanceRows(stage, sections)
	var head strings.Builder
	fmt.Fprintf(&head, "%s\n### stagebot: `%s`, %d instance(s)\n\n", Marker(stage), stage, len(rows))
	head.WriteString(instanceTable(rows, maxTableRows))
	fmt.Fprintf(&head, "\nEach instance has its own state and lock. Apply one with `/apply %s:<instance>`, or every one planned here with `/apply %s`.\n", stage, stage)
	order := slices.Clone(rows)
	slices.SortStableFunc(order, func(a, b row) int { return a.rank - b.rank })
	header := func(i, n int) string {
		return fmt.Sprintf("%s\n#### stagebot: `%s` (part %d of %d)\n\n", PartMarker(stage, i), stage, i, n)
	}
	// Shrink what the sections may take until the parts fit.
	budget := MaxParts*MaxCommentChars*9/10 - runes(head.String())
	for {
		var b strings.Builder
		b.WriteString(head.String())
		left := 0
		used := 0
		for _, r := range order {
			if r.rank == 10 {
				continue // nothing to read beyond its row
			}
			body := stripMarkers(r.Body)
			n := runes(body) + 100
			if used+n > budget {
				left++
				continue
			}
			used += n
			fmt.Fprintf(&b, "\n<details%s><summary>%s <code>%s</code>: %s</summary>\n\n%s\n\n</details>\n", openIf(r.rank < 2), r.icon, r.instance, summaryText(r.title, r.headline), body)
		}
		if left > 0 {
			fmt.Fprintf(&b, "\n_%d more instance(s) did not fit in this comment: their plans are in their check runs, or on the dashboard._\n", left)
		}
		parts := Split(b.String(), MaxCommentChars, header)
		if len(parts) <= MaxParts || budget <= 0 {
			return parts
		}
		budget -= MaxCommentChars / 2
	}
}

// row is an instance's line in its stage's table, read from its section.
type row struct {
	Section
	instance, icon, title, headline string
	rank                            int
	// conclusion is what the instance's check run said (CheckMarker),
	// when its section keeps it.
	conclusion string
}

// instanceRows reads the table rows of sections, in their order.
func instanceRows(stage string, sections []Section) []row {
	rows := make([]row, 0, len(sections))
	for _, s := range sections {
		r := row{Section: s, instance: strings.TrimPrefix(s.Unit, stage+":")}
		r.icon, r.title, r.headline = sectionHeading(s.Body)
		// "stagebot plan: `tenant:acme` at 0123abc" is "plan at 0123abc" in
		// the instance's row.
		r.title = strings.TrimPrefix(r.title, "stagebot ")
		r.title = strings.NewReplacer(": `"+s.Unit+"`", "", " `"+s.Unit+"`", "").Replace(r.title)
		r.title, _, _ = strings.Cut(r.title, " · ") // the engine is in the section
		r.rank = slices.Index([]string{"❌", "⚠️", "🔒", "⏳", "📝", "🗑️"}, r.icon)
		switch {
		case r.icon == "✅" && strings.HasPrefix(r.title, "applied"):
			r.rank = 7 // its outputs
		case r.rank < 0:
			r.rank = 10
		}
		if first, _, _ := strings.Cut(s.Body, "\n"); strings.HasPrefix(first, checkMarkerPrefix) {
			r.conclusion = strings.TrimSuffix(strings.TrimPrefix(first, checkMarkerPrefix), " -->")
		}
		rows = append(rows, r)
	}
	return rows
}

// instanceTable is the table of rows, at most limit of them.
func instanceTable(rows []row, limit int) string {
	var b strings.Builder
	b.WriteString("| instance | state |\n|---|---|\n")
	for i, r := range rows {
		if i == limit {
			fmt.Fprintf(&b, "| … | %d more |\n", len(rows)-i)
			break
		}
		state := r.title
		if r.headline != "" {
			state += ": " + r.headline
		}
		fmt.Fprintf(&b, "| `%s` | %s %s |\n", r.instance, r.icon, tableCell(state))
	}
	return b.String()
}

const checkMarkerPrefix = "<!-- stagebot:check="

// CheckMarker begins an instance's section with the conclusion of what
// its check run would say (PlanCheck's): the stage's one check run, when
// its instances share it, is concluded from them (InstancesCheck).
func CheckMarker(conclusion string) string { return checkMarkerPrefix + conclusion + " -->" }

// WithCheck is section body beginning with the CheckMarker of conclusion,
// in place of the one it had.
func WithCheck(body, conclusion string) string {
	if first, rest, _ := strings.Cut(body, "\n"); strings.HasPrefix(first, checkMarkerPrefix) {
		body = rest
	}
	return CheckMarker(conclusion) + "\n" + body
}

// InstancesCheck renders the one check run an instanced stage's instances
// share: the instance table as its summary, concluded as the worst of
// them (failure, then action_required, then success: something to apply;
// neutral when nothing is left to do). An instance whose section keeps no
// conclusion (an apply's, a refusal's) counts by its icon: a failure's, or
// nothing left to do.
func InstancesCheck(stage string, sections []Section) CheckOutput {
	rows := instanceRows(stage, sections)
	count := map[string]int{}
	for _, r := range rows {
		c := r.conclusion
		if c == "" {
			c = "neutral"
			if r.icon == "❌" {
				c = "failure"
			}
		}
		count[c]++
	}
	out := CheckOutput{Status: "completed", Conclusion: "neutral"}
	for _, c := range []string{"failure", "action_required", "success"} {
		if count[c] > 0 {
			out.Conclusion = c
			break
		}
	}
	out.Title = fmt.Sprintf("%d instances: %d to apply, %d failed, %d held by a policy, %d with nothing to do", len(rows), count["success"], count["failure"], count["action_required"], count["neutral"])
	var b strings.Builder
	fmt.Fprintf(&b, "Every instance of `%s` this pull request changes shares this check run. Apply them all with the Apply button or `/apply %s`, one with `/apply %s:<instance>`; each plan is in the pull request's comment.\n\n", stage, stage, stage)
	b.WriteString(instanceTable(rows, maxTableRows))
	out.Summary = fitChecks(b.String())
	return out
}

// sectionHeading reads a section's icon, title and headline: its first
// "### " line, and its headline line (all bold), else the first bold text
// after the title (not in a banner).
func sectionHeading(body string) (icon, title, headline string) {
	var firstBold string
	for _, line := range strings.Split(body, "\n") {
		switch {
		case title == "" && strings.HasPrefix(line, "### "):
			title = strings.TrimPrefix(line, "### ")
			if f := strings.Fields(title); len(f) > 1 && !strings.HasPrefix(f[0], "stagebot") {
				icon, title = f[0], strings.TrimSpace(strings.TrimPrefix(title, f[0]))
			}
		case title == "" || strings.HasPrefix(line, ">"):
		case headline == "" && len(line) > 4 && strings.HasPrefix(line, "**") && strings.HasSuffix(line, "**"):
			headline = strings.Trim(line, "*") // a plan's or an apply's own line
		case firstBold == "":
			if _, rest, ok := strings.Cut(line, "**"); ok {
				if bold, _, ok := strings.Cut(rest, "**"); ok && bold != "" {
					firstBold = strings.TrimSuffix(bold, ".")
				}
			}
		}
	}
	if headline == "" {
		headline = firstBold
	}
	return icon, title, headline
}

// stripMarkers drops a section's hidden markers: only the stage's own
// comment is found by one.
func stripMarkers(body string) string {
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(body), "\n") {
		if strings.HasPrefix(line, "<!-- stagebot:") && strings.HasSuffix(line, "-->") {
			continue
		}
		if strings.HasPrefix(line, "### ") {
			line = "#### " + strings.TrimPrefix(line, "### ")
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func tableCell(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

func summaryText(title, headline string) string {
	s := strings.NewReplacer("`", "", "**", "", "<", "&lt;", ">", "&gt;").Replace(title)
	if headline != "" {
		s += ": " + strings.NewReplacer("<", "&lt;", ">", "&gt;").Replace(headline)
	}
	return s
}

func openIf(b bool) string {
	if b {
		return " open"
	}
	return ""
}
