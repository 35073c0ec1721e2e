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
	type row struct {
		Section
		instance, icon, title, headline string
		rank                            int
	}
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
		rows = append(rows, r)
	}
	var head strings.Builder
	fmt.Fprintf(&head, "%s\n### stagebot: `%s`, %d instance(s)\n\n", Marker(stage), stage, len(rows))
	head.WriteString("| instance | state |\n|---|---|\n")
	for i, r := range rows {
		if i == maxTableRows {
			fmt.Fprintf(&head, "| … | %d more: see their check runs `%s` |\n", len(rows)-i, CheckRunName(stage+":<instance>"))
			break
		}
		state := r.title
		if r.headline != "" {
			state += ": " + r.headline
		}
		fmt.Fprintf(&head, "| `%s` | %s %s |\n", r.instance, r.icon, tableCell(state))
	}
	fmt.Fprintf(&head, "\nEach instance has its own state, lock and check run (`%s`). Apply one with `/apply %s:<instance>`, or every one planned here with `/apply %s`.\n", CheckRunName(stage+":<instance>"), stage, stage)
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
			fmt.Fprintf(&b, "\n_%d more instance(s) did not fit in this comment: their plans are in their check runs._\n", left)
		}
		parts := Split(b.String(), MaxCommentChars, header)
		if len(parts) <= MaxParts || budget <= 0 {
			return parts
		}
		budget -= MaxCommentChars / 2
	}
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
