package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

const policyYAML = `version: 1
stages:
  - name: infrastructure
    dir: terraform/infrastructure
    policies: ["policies/*.rego"]
    policy_owners: {teams: [acme/dba]}
  - name: platform
    dir: terraform/platform
    depends_on: [infrastructure]
  - name: tenant
    dir: terraform/tenant
    depends_on: [platform]
apply:
  requirements: [approved, mergeable, fresh]
`

const databasePolicy = `package stagebot

deny contains msg if {
	some rc in input.resource_changes
	rc.address == "terraform_data.database"
	"delete" in rc.change.actions
	msg := sprintf("%s would be destroyed: dropping the database needs a policy owner's approval", [rc.address])
}
`

// A plan that destroys the database is denied by the policy on the default
// branch (the PR's own copy of the policy, which allows everything, is not
// read): the comment shows the denial, the check run fails without an
// Apply button, /apply is refused, the author and non-owners cannot
// approve; a policy owner's /approve is recorded and shown, and then the
// plan applies.
func TestPolicyDeniesUntilOwnerApproves(t *testing.T) {
	f, state := mergeFlow(t)
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	applyByHand(t, mainTF) // the database exists
	if !stateHas(t, state, "database") {
		t.Fatal("the database was not deployed by hand")
	}
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": policyYAML, "policies/database.rego": databasePolicy}, "policies")
	f.gh.SetPermission(f.repo, "dana", "write")
	f.gh.AddTeamMember("acme", "dba", "dana")

	dropped := dropDatabase(mainTF)["terraform/infrastructure/main.tf"]
	if dropped == mainTF {
		t.Fatal("the fixture has no database resource to drop")
	}
	f.pr(1, "main", map[string]string{
		"terraform/infrastructure/main.tf": dropped,
		"policies/database.rego":           "package stagebot\n", // the PR's copy allows everything
	}, f.base, 1)
	body := f.stageComment(1, "infrastructure", "Denied by policy")
	for _, want := range []string{"terraform_data.database would be destroyed: dropping the database needs a policy owner's approval", "`policies/database.rego`", "members of @acme/dba", "`/approve infrastructure`"} {
		if !strings.Contains(body, want) {
			t.Errorf("the plan comment lacks %q:\n%s", want, body)
		}
	}
	check := func() githubtest.CheckRun { return f.checkRun("stagebot/infrastructure") }
	eventually(t, 10*time.Second, "the failed check run", func() bool { return check().Conclusion == "failure" })
	if cr := check(); cr.Title != "Denied by policy" || len(cr.Actions) != 1 || cr.Actions[0].Identifier != "plan" {
		t.Errorf("check run of a denied plan: %q %+v", cr.Title, cr.Actions)
	}

	reply := f.reply(1, f.say(1, "alice", "/apply infrastructure"))
	if !strings.Contains(reply, "`/apply infrastructure` was not run") || !strings.Contains(reply, "denied by its policies") || !strings.Contains(reply, "terraform_data.database would be destroyed") {
		t.Errorf("/apply of a denied plan:\n%s", reply)
	}
	time.Sleep(300 * time.Millisecond)
	if !stateHas(t, state, "database") {
		t.Fatal("a plan denied by policy was applied")
	}
	// Neither a writer outside the owners nor the PR's author approves.
	if r := f.reply(1, f.say(1, "carol", "/approve infrastructure")); !strings.Contains(r, "@carol is not a policy owner") {
		t.Errorf("/approve by a non-owner:\n%s", r)
	}
	f.gh.AddTeamMember("acme", "dba", "alice")
	if r := f.reply(1, f.say(1, "alice", "/approve infrastructure")); !strings.Contains(r, "@alice opened or pushed to this pull request") {
		t.Errorf("/approve by the author:\n%s", r)
	}

	if r := f.reply(1, f.say(1, "dana", "/approve infrastructure")); !strings.Contains(r, "@dana approved the current plan of `infrastructure`") {
		t.Errorf("/approve by an owner:\n%s", r)
	}
	body = f.stageComment(1, "infrastructure", "Policy denial approved")
	if !strings.Contains(body, "by @dana") || !strings.Contains(body, "terraform_data.database would be destroyed") {
		t.Errorf("the comment does not show the approval:\n%s", body)
	}
	if cr := check(); cr.Conclusion != "success" || !strings.Contains(cr.Title, "@dana") || len(cr.Actions) != 2 || cr.Actions[0].Identifier != "apply" {
		t.Errorf("check run after the approval: %s %q %+v", cr.Conclusion, cr.Title, cr.Actions)
	}
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if stateHas(t, state, "database") {
		t.Error("the approved plan did not drop the database")
	}
}
