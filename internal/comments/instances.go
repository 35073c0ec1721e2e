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
// says so, and their units are returned (unshown): their plans must be
// shown elsewhere before they may be applied. Each part is within
// GitHub's limit.
func Instances(stage string, sections []Section) (parts []string, unshown []string) {
	rows := instanceRows(stage, sections)
	var head strings.Builder
	fmt.Fprintf(&head, "%s\n### stagebot: `%s`, %d instance(s)\n\n", Marker(stage), stage, len(rows))
	head.WriteString(instanceTable(rows, maxTableRows))
	fmt.Fprintf(&head, "\nEach instance has its own state and lock. Apply one with `/apply %s:<instance>`, or every one planned here with `/apply %s`.\n", stage, stage)
	order := groupAlike(stage, rows)
	slices.SortStableFunc(order, func(a, b alikeGroup) int { return a.rank - b.rank })
	header := func(i, n int) string {
		return fmt.Sprintf("%s\n#### stagebot: `%s` (part %d of %d)\n\n", PartMarker(stage, i), stage, i, n)
	}
	// What each group shows, made once: the loop below only chooses.
	type block struct {
		text  string
		n     int
		units []string
	}
	var blocks []block
	for _, g := range order {
		r := g.row
		if r.rank == 10 {
			continue // nothing to read beyond its row
		}
		body := stripMarkers(r.Body)
		who := "<code>" + r.instance + "</code>"
		units := []string{r.Unit}
		if len(g.alike) > 0 {
			who += fmt.Sprintf(" and %d more", len(g.alike))
			body = fmt.Sprintf("The plans of %d instances are this one with each instance's own name in place of `%s`: `%s`. The lines with the name are below, for each.\n\n%s%s", len(g.alike)+1, r.instance, strings.Join(append([]string{r.instance}, g.alike...), "`, `"), body, g.namedLines())
			for _, a := range g.alike {
				units = append(units, stage+":"+a)
			}
		}
		text := fmt.Sprintf("\n<details%s><summary>%s %s: %s</summary>\n\n%s\n\n</details>\n", openIf(r.rank < 2), r.icon, who, summaryText(r.title, r.headline), body)
		blocks = append(blocks, block{text: text, n: runes(body) + 100, units: units})
	}
	// Shrink what the sections may take until the parts fit.
	budget := MaxParts*MaxCommentChars*9/10 - runes(head.String())
	for {
		var b strings.Builder
		b.WriteString(head.String())
		unshown = nil
		used := 0
		for _, bl := range blocks {
			if used+bl.n > budget {
				unshown = append(unshown, bl.units...)
				continue
			}
			used += bl.n
			b.WriteString(bl.text)
		}
		if len(unshown) > 0 {
			fmt.Fprintf(&b, "\n_Not shown here, for want of room: %s. A plan planned without room here is in its own check run, `%s`; one that has none (it was shown here when planned) is applied only after `/plan %s:<instance>` shows it there._\n", codeList(instanceNames(stage, unshown), 50), CheckRunName(stage+":<instance>"), stage)
		}
		parts = Split(b.String(), MaxCommentChars, header)
		if len(parts) <= MaxParts || budget <= 0 {
			return parts, unshown
		}
		budget -= MaxCommentChars / 2
	}
}

// instanceNames are units' instance names.
func instanceNames(stage string, units []string) []string {
	out := make([]string, len(units))
	for i, u := range units {
		out[i] = strings.TrimPrefix(u, stage+":")
	}
	return out
}

// codeList is names as code, the first max of them and how many more.
func codeList(names []string, max int) string {
	if len(names) <= max {
		return "`" + strings.Join(names, "`, `") + "`"
	}
	return fmt.Sprintf("`%s` and %d more", strings.Join(names[:max], "`, `"), len(names)-max)
}

// alikeGroup is a row shown for itself and for the rows whose sections are
// the same but for the instance's name (a change to the code every
// instance shares): alike are their instance names.
type alikeGroup struct {
	row
	alike []string
	// named are the lines of the group's section where the bare name
	// stands, with the name taken out (nameHolder).
	named []string
}

const unitHolder, nameHolder = "\x00unit\x00", "\x00name\x00"

// namedLines are what differs between the group's sections: the lines
// where the name stands, for each instance but the first, with its name.
func (g alikeGroup) namedLines() string {
	if len(g.named) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n\n<details><summary>The lines with each instance's name, for the %d others</summary>\n\n````\n", len(g.alike))
	for _, name := range g.alike {
		fmt.Fprintf(&b, "# %s\n", name)
		for _, l := range g.named {
			b.WriteString(strings.ReplaceAll(l, nameHolder, name) + "\n")
		}
	}
	b.WriteString("````\n\n</details>")
	return b.String()
}

// groupAlike groups rows whose sections are equal once each one's own
// name is taken out (the unit, and the instance's name as a word, each for
// a placeholder of its own): each of those sections is exactly the first
// one's with its own name put back, and the lines where the bare name
// stands (a value: acl = "private" against "public-read") are shown for
// each. A section that holds a placeholder itself, or its name within a
// longer word, is its own group.
func groupAlike(stage string, rows []row) []alikeGroup {
	var out []alikeGroup
	byKey := map[string]int{}
	for _, r := range rows {
		key, body := "", ""
		if r.rank != 10 && !strings.Contains(r.Body, "\x00") && !strings.Contains(r.Body, "````") {
			var ok bool
			if body, ok = nameOut(strings.ReplaceAll(r.Body, r.Unit, unitHolder), r.instance, nameHolder); ok {
				key = r.icon + "\n" + body
			}
		}
		if i, ok := byKey[key]; ok && key != "" {
			out[i].alike = append(out[i].alike, r.instance)
			continue
		}
		g := alikeGroup{row: r}
		if key != "" {
			byKey[key] = len(out)
			for _, l := range strings.Split(stripMarkers(body), "\n") {
				if strings.Contains(l, nameHolder) {
					g.named = append(g.named, strings.ReplaceAll(l, unitHolder, stage+":"+nameHolder))
				}
			}
		}
		out = append(out, g)
	}
	return out
}

// nameOut is body with name, wherever it stands as a word, replaced by
// placeholder; false when name also stands within a longer word (then
// "the same but for the name" would not say which).
func nameOut(body, name, placeholder string) (string, bool) {
	var b strings.Builder
	for {
		i := strings.Index(body, name)
		if i < 0 {
			b.WriteString(body)
			return b.String(), true
		}
		end := i + len(name)
		before, after := byte(' '), byte('\n')
		if i > 0 {
			before = body[i-1]
		}
		if end < len(body) {
			after = body[end]
		}
		if wordByte(before) || wordByte(after) {
			return "", false
		}
		b.WriteString(body[:i])
		b.WriteString(placeholder)
		body = body[end:]
	}
}

func wordByte(c byte) bool {
	return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// row is an instance's line in its stage's table, read from its section.
type row struct {
	Section
	instance, icon, title, headline string
	rank                            int
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

// InstanceCheck is what one instance's check run concludes on a commit,
// as a PR planned or applied it there.
type InstanceCheck struct {
	PR         int
	Unit       string
	Conclusion string
}

// InstancesCheck renders the one check run an instanced stage's instances
// share on a commit, for PR number: the table of its instances (its
// sections) as the summary, concluded as the worst of what every instance
// concludes there, for any PR (failure, then action_required, then
// success: something to apply; neutral: nothing left to do).
func InstancesCheck(stage string, number int, sections []Section, checks []InstanceCheck) CheckOutput {
	rows := instanceRows(stage, sections)
	count := map[string]int{}
	var others []string
	for _, c := range checks {
		switch c.Conclusion {
		case "failure", "action_required", "success", "neutral":
		default:
			c.Conclusion = "failure" // none the bot gives: held, not passed
		}
		count[c.Conclusion]++
		if o := fmt.Sprintf("#%d", c.PR); c.PR != number && !slices.Contains(others, o) {
			others = append(others, o)
		}
	}
	out := CheckOutput{Status: "completed", Conclusion: "neutral"}
	for _, c := range []string{"failure", "action_required", "success"} {
		if count[c] > 0 {
			out.Conclusion = c
			break
		}
	}
	out.Title = fmt.Sprintf("%d instances: %d to apply, %d failed, %d held by a policy, %d with nothing to do", len(checks), count["success"], count["failure"], count["action_required"], count["neutral"])
	var b strings.Builder
	fmt.Fprintf(&b, "Every instance of `%s` planned on this commit shares this check run. Apply them all with the Apply button or `/apply %s`, one with `/apply %s:<instance>`. Each plan is in the pull request's comment or, where it did not fit there, in its own check run `%s`.\n\n", stage, stage, stage, CheckRunName(stage+":<instance>"))
	if len(others) > 0 {
		fmt.Fprintf(&b, "Other pull requests with this head commit (%s) planned instances here too: their conclusions count in this one.\n\n", strings.Join(others, ", "))
	}
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
