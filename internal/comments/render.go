package comments

import (
	"bytes"
	"embed"
	"fmt"
	"slices"
	"strings"
	"text/template"
	"unicode/utf8"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

var templates = template.Must(template.New("").ParseFS(templateFS, "templates/*.tmpl"))

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
	{groupUpdate, "Update in place"}, {groupImport, "Import"}, {groupMove, "Move"}, {groupRead, "Read"},
}

type planView struct {
	Marker, Stage, SHA, Icon string
	LockedBy                 int
	WaitingFor               string
	Error                    string
	Headline                 string
	None                     bool
	Dangerous                []string
	DangerousCount           int
	Groups                   []group
	Drift                    []string
	Warnings                 []string
	Text, Cut                string
	Reasons                  string
}

// Plan renders a stage's plan comment, redacting secrets, within GitHub's
// comment limit (the plan text keeps its head and tail when it must be cut).
func Plan(p StagePlan, secrets []string) string {
	counts, groups := Summary(p.Plan)
	v := planView{
		Marker:   Marker(p.Stage),
		Stage:    p.Stage,
		SHA:      shortSHA(p.HeadSHA),
		LockedBy: p.LockedBy,
		Headline: counts.Headline(),
		None:     counts.None(),
		Drift:    Drift(p.Plan),
		Warnings: warnings(p.Log),
		Error:    fence(Redact(strings.TrimSpace(p.Error), secrets)),
	}
	if len(p.WaitingFor) > 0 {
		v.WaitingFor = "`" + strings.Join(p.WaitingFor, "`, `") + "`"
	}
	switch {
	case v.WaitingFor != "":
		v.Icon = "⏳"
	case v.Error != "":
		v.Icon = "❌"
	case counts.Destroy+counts.Replace > 0:
		v.Icon = "⚠️"
	case counts.None():
		v.Icon = "✅"
	default:
		v.Icon = "📝"
	}
	v.Dangerous = append(append([]string{}, groups[groupReplace]...), groups[groupDestroy]...)
	v.DangerousCount = len(v.Dangerous)
	for _, g := range groupTitles {
		if len(groups[g.key]) > 0 {
			v.Groups = append(v.Groups, group{Title: fmt.Sprintf("%s (%d)", g.title, len(groups[g.key])), Addresses: groups[g.key]})
		}
	}
	if len(p.Reasons) > 0 {
		v.Reasons = "`" + strings.Join(p.Reasons, "`, `") + "`"
	}
	text := fence(Redact(strings.TrimSpace(p.Text), secrets))
	v.Text = text
	out := render("plan.md.tmpl", v)
	if over := utf8.RuneCountInString(out) - MaxCommentChars; over > 0 {
		v.Text, v.Cut = headTail(text, utf8.RuneCountInString(text)-over-200)
		out = render("plan.md.tmpl", v)
	}
	return out
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
		t = append([]string{lines[i]}, t...)
		n += utf8.RuneCountInString(lines[i]) + 1
	}
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

// warnings takes Terraform's warning titles from its output.
func warnings(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		line = strings.TrimSpace(strings.TrimLeft(line, "│╷╵ "))
		if w, ok := strings.CutPrefix(line, "Warning: "); ok && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func shortSHA(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

// minSecretLen is the shortest value redacted: shorter ones would blank out
// ordinary words and numbers everywhere.
const minSecretLen = 4

// Redact replaces every secret value in s with "(redacted)".
func Redact(s string, secrets []string) string {
	for _, sec := range secrets {
		if len(sec) >= minSecretLen {
			s = strings.ReplaceAll(s, sec, "(redacted)")
		}
	}
	return s
}
