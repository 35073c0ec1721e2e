package comments

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"

	"github.com/stagebot/stagebot/internal/redact"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{"removed": removedText}).ParseFS(templateFS, "templates/*.tmpl"))

// MaxCommentChars is GitHub's limit on a comment body.
const MaxCommentChars = 65536

// MaxCheckRunChars is GitHub's limit on a check run's summary and text.
const MaxCheckRunChars = 65535

type group struct {
	Title     string
	Addresses []string
}

var groupTitles = []struct{ key, title string }{
	{groupReplace, "Replace"}, {groupDestroy, "Destroy"}, {groupCreate, "Create"},
	{groupUpdate, "Update in place"}, {groupImport, "Import"}, {groupMove, "Move"}, {groupForget, "Remove from the state (the object stays)"}, {groupRead, "Read"},
}

type view struct {
	Counts                   Counts
	Marker, Stage, SHA, Icon string
	LockedBy                 int
	DriftIssue               int
	Rules                    string
	Providers                string
	Unisolated               string
	WaitingFor               string
	Error                    string
	Errors                   []string
	Headline                 string
	None                     bool
	Dangerous                []string
	DangerousCount           int
	Groups                   []group
	Drift                    []string
	Warnings                 []string
	Text, Cut                string
	Reasons                  string
	Checks                   []string
	Policy                   string
	PolicyDenied             bool
	Engine                   string
	Removed, Destroying      bool
	Instance, Base           string
	RunURL                   string
	Steps                    string
	Targeted, StateOp        string
	StepFailed               bool
}

// MaxParts bounds how many comments one stage's plan may take; a plan
// longer than that keeps its head and tail.
const MaxParts = 4

// PartMarker marks part i (from 2) of a stage's comment.
func PartMarker(stage string, i int) string {
	return fmt.Sprintf("<!-- stagebot:stage=%s part=%d -->", stage, i)
}

// Plan renders a stage's plan comment, redacting secrets. It returns one
// body, or more when the plan is longer than a comment may be: each within
// GitHub's limit, with code fences and <details> balanced in each.
func Plan(p StagePlan, red *redact.Set) []string {
	v := planView(p, red)
	header := func(i, n int) string {
		return fmt.Sprintf("%s\n#### stagebot plan: `%s` (part %d of %d)\n\n", PartMarker(p.Stage, i), p.Stage, i, n)
	}
	full := v.Text
	// Each text was redacted; the whole is too, for what the plan JSON
	// names (addresses) and the chart checks say.
	parts := Split(red.Redact(render("plan.md.tmpl", v)), MaxCommentChars, header)
	// Too long even for MaxParts comments: keep the plan text's head and
	// tail, shrinking until it fits.
	for keep := runes(full); len(parts) > MaxParts && keep > 0; {
		keep -= (len(parts)-MaxParts)*MaxCommentChars + 2000
		v.Text, v.Cut = headTail(full, max(keep, 0))
		parts = Split(red.Redact(render("plan.md.tmpl", v)), MaxCommentChars, header)
	}
	return parts
}

// maxListed caps each list of addresses; the plan text has them all.
const maxListed = 50

// capList keeps the first maxListed items and says how many more there are.
func capList(items []string) []string {
	if len(items) <= maxListed {
		return items
	}
	return append(items[:maxListed:maxListed], fmt.Sprintf("… and %d more (see the plan output)", len(items)-maxListed))
}

func planView(p StagePlan, red *redact.Set) view {
	counts, groups := Summary(p.Plan)
	v := view{
		Counts:     counts,
		Marker:     Marker(p.Stage),
		Stage:      p.Stage,
		SHA:        ShortSHA(p.HeadSHA),
		LockedBy:   p.LockedBy,
		DriftIssue: p.DriftIssue,
		Rules:      RulesNote(p.Rules, p.RulesBase),
		Headline:   counts.Headline(),
		None:       counts.None(),
		Drift:      capList(Drift(p.Plan)),
		Warnings:   warnings(fence(red.Redact(p.Log))),
		Checks:     p.Checks,
		Error:      fence(red.Redact(strings.TrimSpace(p.Error))),
		Errors:     diagnostics(fence(red.Redact(p.Error)), "Error: "),
		Engine:     p.Engine,
		Removed:    p.Removed,
		Destroying: p.Destroying,
		RunURL:     p.RunURL,
		Steps:      Steps(p.Steps, red),
		StepFailed: blockingStep(p.Steps) != nil,
		Targeted:   strings.ReplaceAll(p.Targeted, "`", "'"),
		StateOp:    strings.ReplaceAll(p.StateOp, "`", "'"),
	}
	v.Base, v.Instance, _ = strings.Cut(p.Stage, ":")
	if p.Providers != nil {
		v.Providers = ProviderWarning(*p.Providers)
	}
	if p.Unisolated {
		v.Unisolated = UnisolatedNotice
	}
	if p.Policy != nil {
		v.Policy = PolicySection(*p.Policy)
		v.PolicyDenied = p.Policy.Denied()
	}
	if len(p.WaitingFor) > 0 {
		v.WaitingFor = "`" + strings.Join(p.WaitingFor, "`, `") + "`"
	}
	switch {
	case v.Removed:
		v.Icon = "🗑️"
	case v.WaitingFor != "":
		v.Icon = "⏳"
	case v.Error != "" || v.StepFailed:
		v.Icon = "❌"
	case counts.Destroy+counts.Replace > 0:
		v.Icon = "⚠️"
	case counts.None():
		v.Icon = "✅"
	default:
		v.Icon = "📝"
	}
	dangerous := append(append([]string{}, groups[groupReplace]...), groups[groupDestroy]...)
	v.DangerousCount = len(dangerous)
	// The banner lists more than the groups: destroys are what reviewers
	// must not miss.
	if len(dangerous) > 4*maxListed {
		dangerous = append(dangerous[:4*maxListed:4*maxListed], fmt.Sprintf("… and %d more (see the plan output)", len(dangerous)-4*maxListed))
	}
	v.Dangerous = dangerous
	for _, g := range groupTitles {
		if len(groups[g.key]) > 0 {
			v.Groups = append(v.Groups, group{Title: fmt.Sprintf("%s (%d)", g.title, len(groups[g.key])), Addresses: capList(groups[g.key])})
		}
	}
	if len(p.Reasons) > 0 {
		v.Reasons = "`" + strings.Join(p.Reasons, "`, `") + "`"
	}
	v.Text = fence(red.Redact(strings.TrimSpace(p.Text)))
	return v
}

func render(name string, v any) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, v); err != nil {
		panic(fmt.Sprintf("comments: template %s: %v", name, err)) // a bug, caught by the golden tests
	}
	return b.String()
}

// headTail keeps the first and last lines of s within max runes, noting how
// many lines were cut; Terraform's summary is at the end, so the tail stays.
func headTail(s string, max int) (string, string) {
	lines := strings.Split(s, "\n")
	if max < 200 {
		max = 200
	}
	head, tail := max*2/5, max*3/5
	var h, t []string
	n := 0
	for _, l := range lines {
		if n+utf8.RuneCountInString(l)+1 > head {
			break
		}
		h = append(h, l)
		n += utf8.RuneCountInString(l) + 1
	}
	n = 0
	for i := len(lines) - 1; i >= len(h); i-- {
		if n+utf8.RuneCountInString(lines[i])+1 > tail {
			break
		}
		t = append(t, lines[i])
		n += utf8.RuneCountInString(lines[i]) + 1
	}
	slices.Reverse(t)
	cut := len(lines) - len(h) - len(t)
	if cut <= 0 {
		return s, ""
	}
	note := fmt.Sprintf("... %d lines cut here: the full plan is in the check run and the bot's log ...", cut)
	return strings.Join(h, "\n") + "\n\n" + note + "\n\n" + strings.Join(t, "\n"), fmt.Sprintf("%d of %d lines shown", len(lines)-cut, len(lines))
}

// fence keeps text from closing the code fence it is shown in.
func fence(s string) string {
	return strings.ReplaceAll(s, "```", "`\u200b``")
}

// warnings takes Terraform's warnings, each with its detail, from its
// output.
func warnings(log string) []string { return diagnostics(log, "Warning: ") }

// diagnostics takes Terraform's diagnostics of one kind ("Warning: " or
// "Error: ") from its output: a block starts at the title and runs to the
// next diagnostic or the end.
func diagnostics(log, kind string) []string {
	var out []string
	var cur []string
	end := func() {
		if len(cur) > 0 {
			d := strings.TrimSpace(strings.Join(cur, "\n"))
			if !slices.Contains(out, d) {
				out = append(out, d)
			}
		}
		cur = nil
	}
	for _, line := range strings.Split(log, "\n") {
		t := strings.TrimLeft(line, "│╷╵ ")
		switch {
		case strings.HasPrefix(t, kind):
			end()
			cur = []string{line}
		case strings.HasPrefix(t, "Warning: "), strings.HasPrefix(t, "Error: "):
			end()
		case cur != nil:
			cur = append(cur, line)
		}
	}
	end()
	return out
}

// ShortSHA is the abbreviated commit the comments show.
func ShortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}
