package comments

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// What one push may cost is bounded: a push past a limit gets one comment
// and nothing is planned; a push that would spend too much of the
// installation's GitHub API quota waits for it.

// LimitMarker marks the PR's one comment about what its pushes may cost.
const LimitMarker = "<!-- stagebot:limits -->"

// limitHeld marks that comment while it holds a push back.
const limitHeld = "<!-- stagebot:limits=held -->"

// Limit is a bound one push went past.
type Limit struct {
	// What is counted, after the count: "instances to plan".
	What  string
	Count int
	Max   int
	// Setting is the environment variable that raises the limit.
	Setting string
}

// OverLimit says nothing of commit sha is planned: its push goes past l.
func OverLimit(sha string, l Limit) string {
	return fmt.Sprintf("%s\n%s\n### 🛑 stagebot did not plan %s: this push is too large\n\n"+
		"This push has **%s %s**; stagebot takes at most **%s** per push (setting `%s`). "+
		"Nothing of this commit is planned or applied: no Terraform ran, and no check run was made per stage or instance.\n\n"+
		"**What to do:** split the change into smaller pull requests and push them one by one, "+
		"or ask whoever runs stagebot to raise `%s`; then push again or comment `/plan`.\n",
		LimitMarker, limitHeld, ShortSHA(sha), Thousands(l.Count), l.What, Thousands(l.Max), l.Setting, l.Setting)
}

// OverLimitCheck is the one check run of a commit whose push went past l:
// failed, since nothing of it can be applied.
func OverLimitCheck(l Limit) CheckOutput {
	return CheckOutput{
		Status:     "completed",
		Conclusion: "failure",
		Title:      fmt.Sprintf("Not planned: %s %s, more than %s", Thousands(l.Count), l.What, Thousands(l.Max)),
		Summary: fmt.Sprintf("stagebot plans at most %s %s per push (setting `%s`). Nothing of this commit was planned; the pull request's comment says what to do.",
			Thousands(l.Max), l.What, l.Setting),
	}
}

// QuotaWait says the push at sha waits for GitHub's API quota: its
// comments and check runs take about calls, more than share percent of the
// remaining calls the installation has until reset (setting names the
// share's setting).
func QuotaWait(sha string, calls, remaining, share int, reset time.Time, setting string) string {
	return fmt.Sprintf("%s\n%s\n### ⏳ stagebot waits with %s: GitHub's API quota is low\n\n"+
		"The comments and check runs of this push take about **%s** GitHub API calls, "+
		"more than %d%% of the **%s** this installation has left (setting `%s`). "+
		"stagebot waits until GitHub renews the quota at **%s** and then goes on by itself: nothing needs doing here.\n",
		LimitMarker, limitHeld, ShortSHA(sha), Thousands(calls), share, Thousands(remaining), setting, reset.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// WithinLimits replaces a held push's comment once a later push (at sha)
// is planned.
func WithinLimits(sha string) string {
	return fmt.Sprintf("%s\n✅ stagebot plans %s: it is within what one push may cost.\n", LimitMarker, ShortSHA(sha))
}

// LimitHeld reports whether a comment of the bot says a push was held back
// (OverLimit or QuotaWait).
func LimitHeld(body string) bool { return strings.Contains(body, limitHeld) }

// Thousands writes n with commas between its thousands: 20,000.
func Thousands(n int) string {
	s := strconv.Itoa(n)
	sign := ""
	if n < 0 {
		sign, s = "-", s[1:]
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return sign + b.String()
}
