package comments

import (
	"fmt"
	"slices"
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
	parts, _ := Instances("tenant", secs)
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
		// Each plan differs from the others in more than its name.
		secs = append(secs, Section{Unit: "tenant:" + name, Body: strings.ReplaceAll(one.Body, "tenant:x", "tenant:"+name) + fmt.Sprintf("\nsize %d", i*i)})
	}
	parts, unshown := Instances("tenant", secs)
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
	if !strings.Contains(all, "Not shown here, for want of room: `") || !strings.Contains(all, "is in its own check run") {
		t.Error("the comment does not say that some plans are only in their check runs")
	}
	// What the comment leaves out is named, and only that: every other
	// instance's plan is in it.
	if len(unshown) == 0 || len(unshown) == 500 {
		t.Fatalf("%d instances left out of the comment", len(unshown))
	}
	for _, sec := range secs {
		shown := strings.Contains(all, "<code>"+strings.TrimPrefix(sec.Unit, "tenant:")+"</code>")
		if shown == slices.Contains(unshown, sec.Unit) {
			t.Errorf("%s: in the comment %v, named unshown %v", sec.Unit, shown, !shown)
		}
	}
}

// The shared check run of a commit is the worst of what its instances
// conclude there, whichever PR planned them: a PR planning one instance
// on the same head does not pass a check another PR's failure holds.
func TestInstancesCheckIsTheWorstOfEveryPR(t *testing.T) {
	secs := []Section{unitPlan(t, "acme", "creates")}
	checks := []InstanceCheck{{PR: 1, Unit: "tenant:acme", Conclusion: "success"}, {PR: 1, Unit: "tenant:initech", Conclusion: "failure"}, {PR: 2, Unit: "tenant:acme", Conclusion: "success"}}
	out := InstancesCheck("tenant", 2, secs, checks)
	if out.Conclusion != "failure" || !strings.Contains(out.Title, "1 failed") || !strings.Contains(out.Summary, "(#1)") {
		t.Errorf("with #1's initech failed: %s %q\n%s", out.Conclusion, out.Title, out.Summary)
	}
	if out := InstancesCheck("tenant", 2, secs, checks[2:]); out.Conclusion != "success" {
		t.Errorf("with acme to apply alone: %s %q", out.Conclusion, out.Title)
	}
	if out := InstancesCheck("tenant", 2, secs, []InstanceCheck{{PR: 2, Unit: "tenant:acme", Conclusion: "(redacted)"}}); out.Conclusion != "failure" {
		t.Errorf("a conclusion the bot never gives passed: %s", out.Conclusion)
	}
}

// 500 instances whose plans differ only in their names are shown as one
// plan with the names it stands for; one that differs in more is shown
// for itself; none is left out.
func TestInstancesAlikeShownOnce(t *testing.T) {
	one := unitPlan(t, "x", "creates")
	var secs []Section
	for i := range 500 {
		name := fmt.Sprintf("t%03d", i)
		body := strings.ReplaceAll(one.Body, "tenant:x", "tenant:"+name) + "\nhost " + name + ".sites.example.com"
		if i == 7 {
			body += "\nsomething else"
		}
		secs = append(secs, Section{Unit: "tenant:" + name, Body: body})
	}
	// A name within a longer word is not grouped: "the same but for
	// the name" would not say which.
	secs = append(secs, Section{Unit: "tenant:ab", Body: strings.ReplaceAll(one.Body, "tenant:x", "tenant:ab") + "\nhost ab.sites.example.com, not abc"})
	parts, unshown := Instances("tenant", secs)
	all := strings.Join(parts, "")
	if len(unshown) != 0 || len(parts) > 2 {
		t.Fatalf("%d parts, %d instances left out", len(parts), len(unshown))
	}
	// A plan split across two parts opens its details again in the next.
	shown := map[string]bool{}
	for _, l := range strings.Split(all, "\n") {
		if strings.Contains(l, "<summary>📝") {
			shown[l] = true
		}
	}
	if n := len(shown); n != 3 {
		t.Errorf("%d plans shown, want 3 (the 499 alike, t007's, ab's)", n)
	}
	if !strings.Contains(all, "<code>t000</code> and 498 more") || !strings.Contains(all, "The plans of 499 instances are this one with each instance's own name in place of `t000`: `t000`, `t001`, `t002`, `t003`, `t004`, `t005`, `t006`, `t008`") || !strings.Contains(all, "# t499\nhost t499.sites.example.com\n") {
		t.Errorf("the alike plans are not shown once with their names:\n%.3000s", all)
	}
	if !strings.Contains(all, "<code>t007</code>:") || !strings.Contains(all, "something else") || !strings.Contains(all, "<code>ab</code>:") {
		t.Error("a plan that differs in more than its name is not shown for itself")
	}
}
