package comments

import (
	"strings"
	"testing"
)

// instancePlan renders the "creates" fixture as instance tenant:name, with
// the token's input set to input (what the instance's tfvars give it).
func instancePlan(t *testing.T, name, input string) Section {
	p := loadCase(t, "creates")
	p.Stage = "tenant:" + name
	p.Text = strings.Replace(p.Text, `"s3cr3t-planted-value"`, input, 1)
	return Section{Unit: p.Stage, Body: strings.Join(Plan(p, nil), "\n")}
}

// The unit (tenant:x1) and the bare name (x1) have placeholders of their
// own: instance x2's plan with "x2" where x1's has "tenant:x1" is not
// grouped with it, as the note would say x2's is input = "tenant:x2"
// (found by an attacker review).
func TestAlikeKeepsTheUnitApartFromTheName(t *testing.T) {
	a := instancePlan(t, "x1", `"tenant:x1"`)
	b := instancePlan(t, "x2", `"x2"`)
	parts, unshown := Instances("tenant", []Section{a, b})
	all := strings.Join(parts, "")
	if len(unshown) != 0 {
		t.Fatalf("unshown %v", unshown)
	}
	grouped := strings.Count(all, "<summary>📝") == 1 && strings.Contains(all, "in place of `x1`: `x1`, `x2`")
	claimed := strings.ReplaceAll(a.Body, "x1", "x2")
	if grouped && claimed != b.Body {
		t.Errorf("x1 and x2 are shown as one plan (x2's is x1's with x2 for x1: input = \"tenant:x2\"), but x2's own plan sets input = \"x2\": the comment claims a plan that is not the one applied")
	}
}

// Instance names are any [a-z0-9_-] word, so they can be the very values
// that make two plans differ: tenants "private" and "public-read" whose
// tfvars set the bucket ACL to their own name, "true" and "false" for
// deletion_protection. Each plan is shown for itself, or, grouped, with the
// lines where each name stands (found by an attacker review: they were
// grouped, and only acl = "private" shown).
func TestAlikeShowsTheLinesWithEachName(t *testing.T) {
	for _, pair := range [][2]string{{"private", "public-read"}, {"true", "false"}} {
		a := instancePlan(t, pair[0], `"`+pair[0]+`"`)
		b := instancePlan(t, pair[1], `"`+pair[1]+`"`)
		parts, _ := Instances("tenant", []Section{a, b})
		all := strings.Join(parts, "")
		if strings.Count(all, "<summary>📝") == 1 && !strings.Contains(all, `+ input  = "`+pair[1]+`"`) {
			t.Errorf("tenant %s's plan sets input = %q, tenant %s's sets %q: shown as ONE plan, only %q in the comment", pair[0], pair[0], pair[1], pair[1], pair[0])
		}
	}
}
