package comments

import (
	"strings"
	"testing"
	"time"
)

func TestLimitComments(t *testing.T) {
	over := Limit{What: "instances to plan", Count: 5000, Max: 200, Setting: "STAGEBOT_MAX_INSTANCES"}
	reset := time.Date(2025, 3, 1, 14, 5, 0, 0, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		name, body string
		held       bool
		want       []string
	}{
		{"over-limit.md", OverLimit(testSHA, over), true, []string{"5,000 instances to plan", "at most **200**", "`STAGEBOT_MAX_INSTANCES`", "did not plan 0123456"}},
		{"quota-wait.md", QuotaWait(testSHA, 412, 600, 50, reset, "STAGEBOT_GITHUB_QUOTA_SHARE"), true, []string{"about **412**", "50% of the **600**", "2025-03-01 13:05:00 UTC", "`STAGEBOT_GITHUB_QUOTA_SHARE`"}},
		{"within-limits.md", WithinLimits(testSHA), false, []string{"plans 0123456"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			golden(t, "limits/"+tc.name, tc.body)
			if !strings.HasPrefix(tc.body, LimitMarker+"\n") {
				t.Errorf("does not start with its marker:\n%s", tc.body)
			}
			if LimitHeld(tc.body) != tc.held {
				t.Errorf("LimitHeld = %v, want %v", !tc.held, tc.held)
			}
			for _, w := range tc.want {
				if !strings.Contains(tc.body, w) {
					t.Errorf("lacks %q:\n%s", w, tc.body)
				}
			}
		})
	}
	check := OverLimitCheck(over)
	if check.Status != "completed" || check.Conclusion != "failure" || check.Title != "Not planned: 5,000 instances to plan, more than 200" || !strings.Contains(check.Summary, "STAGEBOT_MAX_INSTANCES") {
		t.Errorf("OverLimitCheck = %+v", check)
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 20000: "20,000", 1234567: "1,234,567", -4500: "-4,500"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
