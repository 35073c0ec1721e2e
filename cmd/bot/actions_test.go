package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// A stage's check run offers Apply when /apply would be allowed, and
// Re-plan. Pressing Apply as a reader is refused and answered in the PR;
// pressed by a writer, it applies the stage, and the check run then offers
// only Re-plan.
func TestCheckRunButtons(t *testing.T) {
	f, state := mergeFlow(t)
	f.pr(1, "main", resource("pressed"), f.base, 1)
	f.stageComment(1, "infrastructure", "to add")
	check := func() githubtest.CheckRun { return f.checkRun("stagebot/infrastructure") }
	labels := func(c githubtest.CheckRun) string {
		var out []string
		for _, a := range c.Actions {
			out = append(out, a.Label+"="+a.Identifier)
		}
		return strings.Join(out, ",")
	}
	// The check run is completed just after the comment is posted.
	var cr githubtest.CheckRun
	eventually(t, 10*time.Second, "the completed check run", func() bool {
		cr = check()
		return cr.Status == "completed"
	})
	if got := labels(cr); got != "Apply infrastructure=apply,Re-plan=plan" {
		t.Fatalf("buttons = %q", got)
	}
	press := func(user string) {
		f.deliver("check_run", f.gh.RequestedActionPayload(f.repo, cr.ID, "apply", user, 1))
	}
	press("eve") // read only
	reply := f.reply(1, -cr.ID)
	if !strings.Contains(reply, "`/apply infrastructure` was not run") || !strings.Contains(reply, "eve") {
		t.Errorf("a reader's press: %s", reply)
	}
	if stateHas(t, state, "pressed") {
		t.Fatal("a reader's press applied the stage")
	}
	press("alice")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !stateHas(t, state, "pressed") {
		t.Error("a writer's press did not apply the stage")
	}
	eventually(t, 10*time.Second, "Re-plan as the only button after the apply", func() bool {
		return labels(check()) == "Re-plan=plan"
	})
}

// checkRun is the newest check run of that name.
func (f *prFlow) checkRun(name string) githubtest.CheckRun {
	var c githubtest.CheckRun
	for _, cr := range f.gh.CheckRuns(f.repo) {
		if cr.Name == name {
			c = cr
		}
	}
	return c
}

// settledCheckRun waits (up to 30 s) for check run name to satisfy ok, as
// the bot completes a check run just after it posts the comment, and
// returns it as it then is.
func (f *prFlow) settledCheckRun(name string, ok func(githubtest.CheckRun) bool) githubtest.CheckRun {
	var c githubtest.CheckRun
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c = f.checkRun(name); ok(c) {
			break
		}
	}
	return c
}
