package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// teamsYAML lets only @acme/platform-admins apply infrastructure, and
// @acme/platform-admins or @acme/site-operators apply tenant.
const teamsYAML = `version: 1
stages:
  - name: infrastructure
    dir: terraform/infrastructure
    apply:
      teams: ["@acme/platform-admins"]
  - name: platform
    dir: terraform/platform
    depends_on: [infrastructure]
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
    apply:
      teams: [acme/platform-admins, acme/site-operators]
apply:
  requirements: [approved, mergeable, fresh]
`

// Only the team stagebot.yaml names may apply infrastructure: a writer
// outside it is refused with the team named, for /apply, /unlock and a
// merge; a member of the team applies it.
func TestTeamGatesApply(t *testing.T) {
	f, state := mergeFlow(t)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": teamsYAML}, "only platform admins apply infrastructure")
	f.gh.SetPermission(f.repo, "frank", "write")
	f.gh.AddTeamMember("acme", "platform-admins", "frank")
	f.gh.AddTeamMember("acme", "site-operators", "alice")

	f.pr(1, "main", resource("gated"), f.base, 1)
	f.stageComment(1, "infrastructure", "to add")
	reply := f.reply(1, f.say(1, "alice", "/apply infrastructure"))
	for _, want := range []string{"`/apply infrastructure` was not run", "@alice may not apply `infrastructure`", "members of @acme/platform-admins", "ask a member of @acme/platform-admins"} {
		if !strings.Contains(reply, want) {
			t.Errorf("a writer outside the team: no %q in\n%s", want, reply)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if stateHas(t, state, "gated") {
		t.Fatal("a writer outside the team applied infrastructure")
	}
	// /help says who may apply what.
	if help := f.reply(1, f.say(1, "alice", "/help")); !strings.Contains(help, "`infrastructure`: members of @acme/platform-admins") ||
		!strings.Contains(help, "`tenant`: members of @acme/platform-admins or members of @acme/site-operators") {
		t.Errorf("/help:\n%s", help)
	}

	f.say(1, "frank", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !stateHas(t, state, "gated") {
		t.Fatal("a member of the team could not apply")
	}
	// The lock #1 now holds is released only by someone who may apply.
	if r := f.reply(1, f.say(1, "alice", "/unlock infrastructure")); !strings.Contains(r, "`/unlock infrastructure` was not run") || !strings.Contains(r, "@acme/platform-admins") {
		t.Errorf("/unlock by a writer outside the team:\n%s", r)
	}
	if r := f.reply(1, f.say(1, "alice", "/unlock")); !strings.Contains(r, "`/unlock` was not run") {
		t.Errorf("/unlock of every stage by a writer outside the team:\n%s", r)
	}
	if r := f.reply(1, f.say(1, "frank", "/unlock infrastructure")); !strings.Contains(r, "Released this pull request's lock on `infrastructure`") {
		t.Errorf("/unlock by a member:\n%s", r)
	}

	// A merge by alice, approved by carol (neither in the team), applies
	// nothing and says whom it needs.
	head2 := f.gh.Commit(f.repo, "pr-2", "main", resource("merged"), "merged")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "pr-2", HeadSHA: head2, BaseRef: "main", BaseSHA: f.base})
	f.gh.AddReview(f.repo, 2, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head2})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "opened", 0))
	f.stageComment(2, "infrastructure", "to add")
	f.gh.MergeAs(f.repo, 2, "alice")
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 2, "closed", 0))
	if body := f.mergeComment(2, "did not apply"); !strings.Contains(body, "may apply `infrastructure`") || !strings.Contains(body, "members of @acme/platform-admins") {
		t.Errorf("a merge nobody in the team approved:\n%s", body)
	}
	if stateHas(t, state, "merged") {
		t.Fatal("a merge nobody in the team approved was applied")
	}

	// An installation without members: read: GitHub answers 403, and the
	// refusal says what to grant rather than failing the job.
	f.gh.WithoutMembersPermission()
	if r := f.reply(1, f.say(1, "frank", "/unlock infrastructure")); !strings.Contains(r, "`members: read`") || !strings.Contains(r, "organization owner accepts") {
		t.Errorf("/unlock without members: read:\n%s", r)
	}
}
