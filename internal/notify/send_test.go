package notify

import (
	"strings"
	"testing"
	"time"
)

func TestSlackText(t *testing.T) {
	t.Parallel()
	base := Event{Repo: "org/platform", PR: 12, Stage: "infrastructure", Commit: "abc1234def5678", Actor: "alice", Summary: "3 added, 1 changed", URL: "https://github.com/org/platform/pull/12"}
	for name, tc := range map[string]struct {
		ev   func(Event) Event
		want string
	}{
		"applied": {func(e Event) Event { e.Kind = ApplySucceeded; return e },
			"*infrastructure* applied on org/platform#12 by @alice (commit abc1234): 3 added, 1 changed — https://github.com/org/platform/pull/12"},
		"apply failed": {func(e Event) Event { e.Kind = ApplyFailed; e.Summary = "Error: lock held"; return e },
			"*infrastructure* failed to apply on org/platform#12 by @alice (commit abc1234): Error: lock held — https://github.com/org/platform/pull/12"},
		"drift, no PR, no actor": {func(e Event) Event { e.Kind = DriftFound; e.PR, e.Actor, e.URL = 0, "", ""; return e },
			"drift found in *infrastructure* of org/platform (commit abc1234): 3 added, 1 changed"},
		"drift gone": {func(e Event) Event { e.Kind = DriftGone; e.PR, e.Actor, e.Summary, e.URL = 0, "", "", ""; return e },
			"drift gone from *infrastructure* of org/platform (commit abc1234)"},
		"policy denied": {func(e Event) Event {
			e.Kind = PolicyDenied
			e.Summary = "deny: no public buckets"
			e.URL = ""
			return e
		},
			"policy denied *infrastructure* on org/platform#12 by @alice (commit abc1234): deny: no public buckets"},
		"merge waits, no stage": {func(e Event) Event {
			e.Kind = MergeWaiting
			e.Stage, e.Actor, e.Summary, e.URL = "", "", "", ""
			return e
		},
			"the merge of org/platform#12 waits to apply (commit abc1234)"},
		"merge superseded": {func(e Event) Event { e.Kind = MergeSuperseded; e.Actor, e.Summary, e.URL = "", "", ""; return e },
			"*infrastructure*: the merge of org/platform#12 was superseded by a newer one (commit abc1234)"},
		// Slack reads <, > and & as markup: a summary cannot make a link.
		"markup escaped": {func(e Event) Event {
			e.Kind = ApplyFailed
			e.Summary, e.URL, e.Actor, e.Commit = "<https://evil.example|click> & more", "https://x.example/?a=1&b=2", "", ""
			return e
		}, "*infrastructure* failed to apply on org/platform#12: &lt;https://evil.example|click&gt; &amp; more — https://x.example/?a=1&amp;b=2"},
	} {
		t.Run(name, func(t *testing.T) {
			if got := SlackText(tc.ev(base)); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestDeriveIDAndBounds(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	ev := Event{Kind: ApplySucceeded, Repo: "org/a", PR: 1, Stage: "s", Commit: "c", Time: at}
	if DeriveID(ev) != DeriveID(ev) || !strings.HasPrefix(DeriveID(ev), "ev-") {
		t.Errorf("id %q is not stable", DeriveID(ev))
	}
	other := ev
	other.Time = at.Add(time.Second)
	if DeriveID(other) == DeriveID(ev) {
		t.Error("events at different times share an id")
	}
	// Fields cannot run into each other: stage "s1"/commit "" is not
	// stage "s"/commit "1".
	a, b := ev, ev
	a.Stage, a.Commit = "s1", ""
	b.Stage, b.Commit = "s", "1"
	if DeriveID(a) == DeriveID(b) {
		t.Error("ids of different events collide")
	}
	long := Event{Summary: strings.Repeat("é", maxSummary)}.bounded()
	if len(long.Summary) > maxSummary+len("…") || !strings.HasSuffix(long.Summary, "…") || !strings.HasPrefix(long.Summary, "é") {
		t.Errorf("summary of %d bytes not cut well", len(long.Summary))
	}
}
