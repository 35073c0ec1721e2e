package comments

import (
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/redact"
)

// A plan run without the sandbox says so under its title, in its comment
// and in its check run; a sandboxed plan says nothing of it.
func TestUnisolatedNotice(t *testing.T) {
	for _, unisolated := range []bool{true, false} {
		p := StagePlan{Stage: "infrastructure", HeadSHA: "0123456789abcdef", Unisolated: unisolated}
		comment := strings.Join(Plan(p, redact.New()), "\n")
		check := PlanCheck(p, redact.New())
		for what, text := range map[string]string{"comment": comment, "check run": check.Summary} {
			if got := strings.Contains(text, UnisolatedNotice); got != unisolated {
				t.Errorf("unisolated %v: the %s says so: %v\n%s", unisolated, what, got, text)
			}
		}
		_, afterTitle, _ := strings.Cut(comment, "\n### ")
		_, next, _ := strings.Cut(afterTitle, "\n\n")
		if unisolated && !strings.HasPrefix(next, UnisolatedNotice) {
			t.Errorf("the notice is not right under the title:\n%s", comment)
		}
	}
}
