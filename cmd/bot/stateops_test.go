package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// planWithout waits for the stage's comment on PR number that holds every
// one of want and none of unwanted.
func (f *prFlow) planWithout(number int, stage string, want []string, unwanted string) string {
	var body string
	eventually(f.t, 2*time.Minute, stage+" comment with "+strings.Join(want, ", "), func() bool {
		for _, c := range f.gh.BotComments(f.repo, number) {
			if !strings.Contains(c.Body, "<!-- stagebot:stage="+stage+" -->") || strings.Contains(c.Body, unwanted) {
				continue
			}
			ok := true
			for _, w := range want {
				ok = ok && strings.Contains(c.Body, w)
			}
			if ok {
				body = c.Body
				return true
			}
		}
		return false
	})
	return body
}

// push commits files onto PR number's branch, approved by carol, and
// tells the bot.
func (f *prFlow) push(number int, files map[string]string) string {
	head := f.gh.Commit(f.repo, fmt.Sprint("pr-", number), "", files, "push")
	f.gh.UpdatePull(f.repo, number, func(p *githubtest.Pull) { p.HeadSHA = head })
	f.gh.AddReview(f.repo, number, githubtest.Review{User: "carol", State: "APPROVED", CommitID: head})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, number, "synchronize", 0))
	return head
}

// TestTargetedPlanAppliesOnlyItsTarget: `/plan stage -- -target=...`
// plans only its target and says so in the comment and the check run;
// applied, only the target is in the state, and the stage is planned again
// in full at once, showing the rest. Flags off the allowlist are refused
// with the list.
func TestTargetedPlanAppliesOnlyItsTarget(t *testing.T) {
	f, state := mergeFlow(t)
	files := stateIn(quickstartTree(t), state)
	change := map[string]string{"terraform/infrastructure/main.tf": strings.Replace(files["terraform/infrastructure/main.tf"], `input = "demo-postgres"`, `input = "demo-postgres-2"`, 1)}
	f.pr(1, "main", change, f.base, 1)
	f.stageComment(1, "infrastructure", "+2 to add")

	for _, bad := range []string{"/plan infrastructure -- -destroy", "/plan infrastructure -- -target=x;rm", "/plan infrastructure -- -var state_dir=/etc", "/plan infrastructure platform -- -target=terraform_data.database"} {
		if r := f.reply(1, f.say(1, "alice", bad)); !strings.Contains(r, "-target=ADDRESS") && !strings.Contains(r, "resource address") && !strings.Contains(r, "sets `state_dir` itself") && !strings.Contains(r, "for one stage") {
			t.Errorf("%s: %s", bad, r)
		}
	}
	if r := f.reply(1, f.say(1, "eve", "/plan infrastructure -- -target=terraform_data.database")); !strings.Contains(r, "@eve has the `read` role") {
		t.Errorf("a reader's targeted /plan: %s", r)
	}

	f.say(1, "alice", "/plan infrastructure -- -target=terraform_data.database")
	targeted := f.stageComment(1, "infrastructure", "Targeted plan")
	if !strings.Contains(targeted, "`-target=terraform_data.database`") || !strings.Contains(targeted, "+1 to add") || strings.Contains(targeted, "terraform_data.cluster will be created") {
		t.Errorf("the targeted plan's comment:\n%s", targeted)
	}
	check := f.settledCheckRun("stagebot/infrastructure", func(c githubtest.CheckRun) bool { return strings.HasPrefix(c.Title, "Targeted:") })
	if !strings.HasPrefix(check.Title, "Targeted: ") || !strings.Contains(check.Summary, "-target=terraform_data.database") {
		t.Errorf("the targeted plan's check run: %q\n%s", check.Title, check.Summary)
	}

	f.say(1, "alice", "/apply infrastructure")
	full := f.planWithout(1, "infrastructure", []string{"+1 to add", "- `terraform_data.cluster`"}, "Targeted plan")
	if !stateHas(t, state, "database") || stateHas(t, state, "cluster") {
		t.Errorf("after the targeted apply the state should hold the database alone")
	}
	if !strings.Contains(full, "To apply, comment `/apply infrastructure`") {
		t.Errorf("the full plan after the targeted apply:\n%s", full)
	}
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if !stateHas(t, state, "cluster") {
		t.Error("the full apply did not create the cluster")
	}
}

const importedTF = `
resource "terraform_data" "imported" {
}
`

// TestImportAndStateRemove: /import plans an import block for its stage
// (the PR's files unchanged), /apply applies it into the state; /state rm
// plans a removed block and /apply takes the resource out of the state,
// leaving the object. Each is refused to someone who may not apply, and
// each is recorded for the dashboard.
func TestImportAndStateRemove(t *testing.T) {
	addr := freeAddr(t)
	public := "http://" + addr
	f, state := mergeFlow(t, "STAGEBOT_LISTEN="+addr, "STAGEBOT_PUBLIC_URL="+public,
		"STAGEBOT_GITHUB_CLIENT_ID="+githubtest.ClientID, "STAGEBOT_GITHUB_CLIENT_SECRET="+githubtest.ClientSecret)
	files := stateIn(quickstartTree(t), state)
	mainTF := files["terraform/infrastructure/main.tf"]
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": mainTF + importedTF}, f.base, 1)
	f.stageComment(1, "infrastructure", "+3 to add")

	for _, cmd := range []string{"/import infrastructure terraform_data.imported abc-123", "/state rm infrastructure terraform_data.imported"} {
		if r := f.reply(1, f.say(1, "eve", cmd)); !strings.Contains(r, "@eve has the `read` role") {
			t.Errorf("%s by a reader: %s", cmd, r)
		}
	}
	for _, bad := range []string{"/import infrastructure terraform_data.imported", "/import infrastructure ${file(\"/etc/passwd\")} x", "/state rm infrastructure", "/state cp infrastructure a.b c.d"} {
		if r := f.reply(1, f.say(1, "alice", bad)); !strings.Contains(r, "write `/") && !strings.Contains(r, "resource address") {
			t.Errorf("%s: %s", bad, r)
		}
	}

	f.say(1, "alice", "/import infrastructure terraform_data.imported abc-123")
	imp := f.stageComment(1, "infrastructure", "State operation")
	if !strings.Contains(imp, "`/import infrastructure terraform_data.imported abc-123`") || !strings.Contains(imp, "1 to import") {
		t.Errorf("the import plan's comment:\n%s", imp)
	}
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	raw, _ := os.ReadFile(filepath.Join(state, "infrastructure.tfstate"))
	if !strings.Contains(string(raw), `"id": "abc-123"`) || !stateHas(t, state, "imported") {
		t.Fatalf("the import is not in the state:\n%s", raw)
	}

	// The resource leaves the configuration: a plan would destroy it;
	// /state rm takes it out of the state instead.
	f.push(1, map[string]string{"terraform/infrastructure/main.tf": mainTF + "\n# terraform_data.imported is managed elsewhere now\n"})
	f.stageComment(1, "infrastructure", "-1 to destroy")
	f.say(1, "alice", "/state rm infrastructure terraform_data.imported")
	rm := f.stageComment(1, "infrastructure", "1 to remove from the state")
	if !strings.Contains(rm, "`/state rm infrastructure terraform_data.imported`") || !strings.Contains(rm, "-0 to destroy") {
		t.Errorf("the state rm plan's comment:\n%s", rm)
	}
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	if stateHas(t, state, "imported") || !stateHas(t, state, "database") {
		t.Error("after /state rm and /apply the state still holds the resource, or lost another")
	}

	// Both are on the PR's dashboard page, with who asked and who applied.
	_, page := get(t, login(t, f.gh, public, "alice"), public+"/repos/acme/platform/pulls/1")
	for _, want := range []string{"State operations", "/import infrastructure terraform_data.imported abc-123", "/state rm infrastructure terraform_data.imported", "alice"} {
		if !strings.Contains(page, want) {
			t.Errorf("the PR's dashboard page lacks %q", want)
		}
	}
}

// TestTargetedOpenTofuPlanIsPlannedAgainInFull: OpenTofu's plan JSON does
// not say a plan is targeted; the bot's own record of it does, so its
// apply is followed by the full plan as Terraform's is.
func TestTargetedOpenTofuPlanIsPlannedAgainInFull(t *testing.T) {
	f, state := mergeFlow(t, "STAGEBOT_TOFU_BIN="+tofuBin(t))
	files := stateIn(quickstartTree(t), state)
	cfg := strings.Replace(files["stagebot.yaml"], "version: 1\n", "version: 1\nterraform_bin: tofu\n", 1)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": cfg}, "OpenTofu")
	change := map[string]string{"terraform/infrastructure/main.tf": strings.Replace(files["terraform/infrastructure/main.tf"], `input = "demo-postgres"`, `input = "demo-postgres-2"`, 1)}
	f.pr(1, "main", change, f.base, 1)
	f.stageComment(1, "infrastructure", "+2 to add")
	f.say(1, "alice", "/plan infrastructure -- -target=terraform_data.database")
	f.stageComment(1, "infrastructure", "Targeted plan")
	f.say(1, "alice", "/apply infrastructure")
	f.planWithout(1, "infrastructure", []string{"OpenTofu", "+1 to add", "- `terraform_data.cluster`"}, "Targeted plan")
	if !stateHas(t, state, "database") || stateHas(t, state, "cluster") {
		t.Error("after the targeted apply the state should hold the database alone")
	}
}
