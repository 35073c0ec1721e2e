package comments

import (
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/redact"
)

// swapped is the provider code of a PR that brings a plugin and changes
// its stage's lock file.
func swapped(approvedBy ...string) *ProviderCode {
	return &ProviderCode{
		Files:    []string{"terraform/platform/terraform.d/plugins/example.com/x/y/1.0.0/linux_amd64/terraform-provider-y"},
		LockFile: "terraform/platform/.terraform.lock.hcl",
		Lock: []LockChange{
			{Provider: "registry.terraform.io/hashicorp/null", From: "3.2.2", To: "3.2.3", HashesAdded: 2, HashesRemoved: 2},
			{Provider: "registry.terraform.io/hashicorp/random", From: "3.6.0", To: "3.6.0", HashesAdded: 1},
			{Provider: "example.com/x/y", To: "1.0.0", HashesAdded: 1},
			{Provider: "registry.terraform.io/hashicorp/time", From: "0.9.1", HashesRemoved: 3},
		},
		Base:       RulesBase{Branch: "main", SHA: "89abcdef0123456789abcdef0123456789abcdef"},
		ApprovedBy: approvedBy,
	}
}

// The warning is the first thing under the plan's title, pending or
// approved; its check run is neutral until an approval counts, and only a
// passing plan's conclusion changes.
func TestGoldenProviderWarning(t *testing.T) {
	tests := []struct {
		name      string
		plan      string
		providers *ProviderCode
		want      string // the check run's conclusion
	}{
		{"providers-pending", "creates", swapped(), "neutral"},
		{"providers-approved", "creates", swapped("carol"), "success"},
		{"providers-failed", "error-runtime", swapped(), "failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := loadCase(t, tc.plan)
			p.Providers = tc.providers
			parts := Plan(p, redact.New(planted))
			golden(t, tc.name+".md", strings.Join(parts, "\n\n<!-- ---- next comment ---- -->\n\n"))
			check := PlanCheck(p, redact.New(planted))
			golden(t, tc.name+".check.md", "status: "+check.Status+"\nconclusion: "+check.Conclusion+"\ntitle: "+check.Title+"\n\n## summary\n\n"+check.Summary+"\n")
			for i, body := range parts {
				assertComment(t, body, i)
			}
			lines := strings.Split(parts[0], "\n")
			if len(lines) < 4 || !strings.HasPrefix(lines[1], "### ") || lines[2] != "" || !strings.HasPrefix(lines[3], "> [!") || !strings.Contains(lines[4], "provider code from the pull request") {
				t.Errorf("the warning is not at the top of the comment:\n%s", parts[0])
			}
			if check.Conclusion != tc.want {
				t.Errorf("check run conclusion %q, want %q", check.Conclusion, tc.want)
			}
			if !strings.HasPrefix(check.Summary, "> [!") {
				t.Errorf("the check run's summary does not start with the warning:\n%s", check.Summary)
			}
		})
	}
}

// What a PR names (a path) cannot break out of its code span or line.
func TestProviderWarningQuotesPaths(t *testing.T) {
	got := ProviderWarning(ProviderCode{Files: []string{"a/`b`\n# evil/terraform-provider-x"}, Base: RulesBase{Branch: "main", SHA: "0123456"}})
	if !strings.Contains(got, "> - `a/?b??# evil/terraform-provider-x`\n") && !strings.HasSuffix(got, "> - `a/?b??# evil/terraform-provider-x`") {
		t.Errorf("the path is not quoted safely:\n%s", got)
	}
	for _, line := range strings.Split(got, "\n") {
		if !strings.HasPrefix(line, ">") {
			t.Errorf("a line left the warning's block: %q", line)
		}
	}
}

// The apply refusal names what the PR brings and why no approval counts.
func TestProviderCodeUnapproved(t *testing.T) {
	got := ProviderCodeUnapproved("platform", *swapped(), "nobody approved.")
	for _, want := range []string{"`platform`", "1 provider file(s)", "`terraform/platform/.terraform.lock.hcl`", "whatever the apply requirements say", "nobody approved."} {
		if !strings.Contains(got, want) {
			t.Errorf("refusal lacks %q:\n%s", want, got)
		}
	}
}

// An instance's row in its stage's table still shows its plan's headline
// under the warning.
func TestProviderWarningInAnInstanceSection(t *testing.T) {
	p := loadCase(t, "creates")
	p.Stage, p.Providers = "platform:acme", swapped()
	parts, _ := Instances("platform", []Section{{Unit: "platform:acme", Body: strings.Join(Plan(p, nil), "\n")}})
	if !strings.Contains(parts[0], "| `acme` | 📝 plan at 0123456: +3 to add") {
		t.Errorf("the instance's row:\n%s", parts[0])
	}
}
