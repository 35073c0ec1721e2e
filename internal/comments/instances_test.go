package comments

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// unitPlan renders instance name's plan as the workflow does: the plan of
// fixture case, as instance tenant:name.
func unitPlan(t *testing.T, name, fixture string) Section {
	p := loadCase(t, fixture)
	p.Stage = "tenant:" + name
	return Section{Unit: p.Stage, Body: strings.Join(Plan(p, nil), "\n")}
}

func TestInstancesComment(t *testing.T) {
	secs := []Section{unitPlan(t, "acme", "creates"), unitPlan(t, "globex", "no-changes"), unitPlan(t, "hooli", "error-runtime"), unitPlan(t, "initech", "changes")}
	parts := Instances("tenant", secs)
	if len(parts) != 1 {
		t.Fatalf("%d parts", len(parts))
	}
	body := parts[0]
	if !strings.HasPrefix(body, Marker("tenant")+"\n") || strings.Contains(body, "stagebot:stage=tenant:") {
		t.Errorf("the comment is not found by the stage's marker alone:\n%s", body[:200])
	}
	for _, want := range []string{"`tenant`, 4 instance(s)", "| `acme` | 📝", "| `globex` | ✅", "| `hooli` | ❌", "| `initech` | ⚠️", "`/apply tenant:<instance>`"} {
		if !strings.Contains(body, want) {
			t.Errorf("lacks %q:\n%s", want, body)
		}
	}
	// What needs reading comes first; an instance without changes is only
	// a row.
	hooli, initech, acme := strings.Index(body, "<code>hooli</code>"), strings.Index(body, "<code>initech</code>"), strings.Index(body, "<code>acme</code>")
	if hooli < 0 || initech < hooli || acme < initech || strings.Contains(body, "<code>globex</code>") {
		t.Errorf("sections out of order (failed %d, destroys %d, changes %d), or one without changes shown:\n%s", hooli, initech, acme, body)
	}
}

// 500 instances with changes: every instance has its row, the comment
// stays within GitHub's limits, and what did not fit says where it is.
func TestInstancesCommentFits(t *testing.T) {
	one := unitPlan(t, "x", "creates")
	var secs []Section
	for i := range 500 {
		name := fmt.Sprintf("t%03d", i)
		secs = append(secs, Section{Unit: "tenant:" + name, Body: strings.ReplaceAll(one.Body, "tenant:x", "tenant:"+name)})
	}
	parts := Instances("tenant", secs)
	if len(parts) > MaxParts {
		t.Fatalf("%d parts, more than %d", len(parts), MaxParts)
	}
	all := strings.Join(parts, "")
	for i, p := range parts {
		if n := utf8.RuneCountInString(p); n > MaxCommentChars {
			t.Errorf("part %d has %d characters", i+1, n)
		}
		if strings.Count(p, "<details")+0 != strings.Count(p, "</details>") || strings.Count(p, "```")%2 != 0 {
			t.Errorf("part %d has unbalanced blocks", i+1)
		}
	}
	for _, name := range []string{"t000", "t250", "t499"} {
		if !strings.Contains(all, "| `"+name+"` | 📝") {
			t.Errorf("no row for %s", name)
		}
	}
	if !strings.Contains(all, "did not fit in this comment: their plans are in their check runs") {
		t.Error("the comment does not say that some plans are only in their check runs")
	}
}
