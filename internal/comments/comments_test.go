package comments

import (
	"encoding/json"
	"github.com/stagebot/stagebot/internal/redact"
	"strings"
	"testing"
	"unicode/utf8"

	tfjson "github.com/hashicorp/terraform-json"
)

func TestSplitKeepsBlocksBalanced(t *testing.T) {
	long := strings.Repeat("a line of plan output that goes on for a while\n", 4000)
	body := "<!-- stagebot:stage=x -->\nintro\n\n<details><summary>Plan</summary>\n\n```hcl\n" + long + "```\n\n</details>\n\nafter\n"
	parts := Split(body, 10000, func(i, n int) string { return PartMarker("x", i) + "\n" })
	if len(parts) < 2 {
		t.Fatalf("%d parts", len(parts))
	}
	for i, p := range parts {
		if runes(p) > 10000 {
			t.Errorf("part %d: %d characters", i+1, runes(p))
		}
		if err := balanced(p); err != "" {
			t.Errorf("part %d: %s", i+1, err)
		}
		if i > 0 && !strings.Contains(p, "```hcl") && i < len(parts)-1 {
			t.Errorf("part %d does not re-open the fence with its language", i+1)
		}
	}
	// Nothing is lost: the lines of every part add up to the original.
	if got := strings.Count(strings.Join(parts, ""), "a line of plan output"); got != 4000 {
		t.Errorf("%d lines survive of 4000", got)
	}
	if !strings.HasSuffix(parts[len(parts)-1], "after") {
		t.Errorf("last part ends %q", parts[len(parts)-1][len(parts[len(parts)-1])-20:])
	}
}

func TestSplitCutsAnOverlongLine(t *testing.T) {
	body := "```\n" + strings.Repeat("é", 25000) + "\n```\n"
	parts := Split(body, 10000, func(i, n int) string { return "" })
	total := 0
	for i, p := range parts {
		if runes(p) > 10000 {
			t.Errorf("part %d: %d characters", i+1, runes(p))
		}
		if err := balanced(p); err != "" {
			t.Errorf("part %d: %s", i+1, err)
		}
		total += strings.Count(p, "é")
	}
	if total != 25000 {
		t.Errorf("%d of 25000 characters kept", total)
	}
}

func TestDriftHasItsOwnSection(t *testing.T) {
	// Built-in resources cannot drift (terraform_data's refresh returns its
	// state unchanged), so this plan is the "changes" fixture with one
	// drifted resource added in the shape Terraform writes.
	p := loadCase(t, "changes")
	p.Plan.ResourceDrift = []*tfjson.ResourceChange{{
		Address: "terraform_data.keep", Type: "terraform_data", Name: "keep",
		Change: &tfjson.Change{Actions: tfjson.Actions{tfjson.ActionUpdate}},
	}}
	body := strings.Join(Plan(p, nil), "")
	if !strings.Contains(body, "**Changed outside of Terraform**") || !strings.Contains(body, "- `terraform_data.keep (changed)`") {
		t.Errorf("no drift section:\n%s", body)
	}
}

func TestSensitiveValuesRedactedEverywhere(t *testing.T) {
	p := loadCase(t, "creates")
	// The plan JSON holds the sensitive variable's value in clear.
	js, _ := json.Marshal(p.Plan)
	if !strings.Contains(string(js), "hunter2-sensitive") {
		t.Fatal("fixture no longer has a sensitive value in its plan JSON")
	}
	secrets := redact.PlanValues(p.Plan)
	found := false
	for _, s := range secrets {
		found = found || s == "hunter2-sensitive"
	}
	if !found {
		t.Fatalf("PlanValues = %q, lacks the sensitive variable", secrets)
	}
	// A value in the error output and the log is redacted too.
	p.Log += "\nWarning: something about hunter2-sensitive\n\nand " + planted + "\n"
	body := strings.Join(Plan(p, redact.New(append(secrets, planted)...)), "")
	for _, s := range []string{"hunter2-sensitive", planted} {
		if strings.Contains(body, s) {
			t.Errorf("%q survived redaction", s)
		}
	}
	e := StagePlan{Stage: "x", Error: "Error: bad\n\ncould not connect with password " + planted + "\n"}
	if body := strings.Join(Plan(e, redact.New(planted)), ""); strings.Contains(body, planted) {
		t.Error("secret in error output survived")
	}
}

func TestApplyComment(t *testing.T) {
	p := loadCase(t, "creates")
	ok := Apply(StageApply{
		Stage: "infrastructure", HeadSHA: testSHA, Plan: p.Plan,
		Outputs: []Output{{Name: "password", Sensitive: true, Value: `"hunter2-sensitive"`}, {Name: "host", Value: `"db.internal"`}},
		Log:     "terraform_data.db: Creating...\nApply complete! Resources: 3 added, 0 changed, 0 destroyed.\n",
		Notes:   []string{"Secret `admin-apps/authentik-env-secrets`: updated keys `AUTHENTIK_POSTGRESQL__PASSWORD`."},
	}, nil)
	body := strings.Join(ok, "")
	for _, want := range []string{"✅ stagebot applied `infrastructure`", "+3 add", "| `password` | (sensitive, not shown) |", "| `host` | `\"db.internal\"` |", "updated keys"} {
		if !strings.Contains(body, want) {
			t.Errorf("apply comment lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "hunter2-sensitive") {
		t.Error("a sensitive output is shown")
	}
	failed := strings.Join(Apply(StageApply{Stage: "tenant", HeadSHA: testSHA,
		Error: "Error: creating MariaDB cluster: 422\n\n  with ionoscloud_mariadb_cluster.tenant[\"acme\"],\n  on main.tf line 3, in resource \"ionoscloud_mariadb_cluster\" \"tenant\":\n"}, nil), "")
	if !strings.Contains(failed, "Failing resource(s): `ionoscloud_mariadb_cluster.tenant[\"acme\"]`") || !strings.Contains(failed, "stays locked") {
		t.Errorf("failed apply comment:\n%s", failed)
	}
}

func TestHelpAndRefusals(t *testing.T) {
	h := Help(HelpInput{Stages: []string{"infrastructure", "platform", "tenant"}, WhoMayApply: "users with `write` permission"})
	for _, want := range []string{"/plan [stage...]", "/apply [stage...]", "/unlock [stage...]", "`infrastructure` → `platform` → `tenant`", "users with `write` permission"} {
		if !strings.Contains(h, want) {
			t.Errorf("help lacks %q", want)
		}
	}
	r := Locked("/apply platform", "platform", 12).Render(99)
	for _, want := range []string{ReplyMarker(99), "locked by #12", "comment `/unlock platform` there"} {
		if !strings.Contains(r, want) {
			t.Errorf("refusal lacks %q:\n%s", want, r)
		}
	}
}

// FuzzRender renders arbitrary plan text, logs and errors: no panic, every
// part within GitHub's limit with balanced blocks, the planted secret gone.
func FuzzRender(f *testing.F) {
	f.Add("Plan: 1 to add\n```\nx\n```", "Warning: w\n\nmore", "", 100)
	f.Add("<details>\n"+strings.Repeat("x\n", 100), "", "Error: e\n```", 3000)
	f.Add(strings.Repeat("é", 70000), "", "", 1)
	f.Fuzz(func(t *testing.T, text, log, errText string, repeat int) {
		repeat = max(1, min(repeat%4000, 4000))
		text = strings.Repeat(text+"\n", repeat)
		secret := "fuzz-secret-42"
		p := StagePlan{Stage: "s", HeadSHA: "abc", Text: text + secret, Log: log + secret, Error: errText}
		if utf8.ValidString(errText) && len(errText)%2 == 0 {
			p.Error = ""
		}
		parts := Plan(p, redact.New(secret))
		if len(parts) > MaxParts {
			t.Fatalf("%d parts", len(parts))
		}
		for i, body := range parts {
			if runes(body) > MaxCommentChars {
				t.Fatalf("part %d: %d characters", i+1, runes(body))
			}
			if err := balanced(body); err != "" {
				t.Fatalf("part %d: %s\n%s", i+1, err, body)
			}
			if strings.Contains(body, secret) {
				t.Fatalf("secret survived in part %d", i+1)
			}
		}
		c := PlanCheck(p, redact.New(secret))
		if runes(c.Summary) > MaxCheckRunChars || runes(c.Text) > MaxCheckRunChars || strings.Contains(c.Text+c.Summary, secret) {
			t.Fatalf("check output: summary %d, text %d", runes(c.Summary), runes(c.Text))
		}
	})
}

// FuzzSplit splits arbitrary Markdown: no panic, parts within the limit,
// balanced, and no text lost.
func FuzzSplit(f *testing.F) {
	f.Add("```\na\n```\n<details>\nb\n</details>\n", 50)
	f.Add("<details><summary>x</summary>\n\n```go\n"+strings.Repeat("line\n", 50)+"```\n</details>", 60)
	f.Fuzz(func(t *testing.T, body string, limit int) {
		limit = 200 + abs(limit)%2000
		parts := Split(body, limit, func(i, n int) string { return PartMarker("s", i) + "\n" })
		for i, p := range parts {
			if runes(p) > limit {
				t.Fatalf("part %d: %d > %d", i+1, runes(p), limit)
			}
			if err := balanced(p); err != "" && balanced(body) == "" {
				t.Fatalf("part %d of a balanced body: %s", i+1, err)
			}
		}
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
