package comments

import (
	"fmt"
	"strings"
	"time"
)

// The bot's notices on a PR other than plans and applies: merges that were
// not applied or wait, interrupted applies, refused trees, retired stages,
// released locks and policy approvals.

// MergeMarker marks the PR's comment about its merge.
const MergeMarker = "<!-- stagebot:merge -->"

// MergeRefused says nothing of merge commit sha of PR number was applied:
// why, and what to do next.
func MergeRefused(number int, sha, why, next string) string {
	return fmt.Sprintf("%s\n### 🛑 stagebot did not apply the merge of #%d\n\nNothing of merge commit %s was applied: %s\n\n**What to do:** %s\n", MergeMarker, number, ShortSHA(sha), why, next)
}

// MergeSuperseded says merge commit sha of PR number is not applied: the
// newer commit is, for why.
func MergeSuperseded(number int, sha, newer, why string) string {
	return fmt.Sprintf("%s\n### ⏭️ stagebot: the merge of #%d is superseded by %s\n\nMerge commit %s is not applied: %s\n", MergeMarker, number, ShortSHA(newer), ShortSHA(sha), why)
}

// MergeWaits is a stage's comment while merge commit sha of PR number
// waits to apply it, for why.
func MergeWaits(stage string, number int, sha, why string) string {
	return fmt.Sprintf("%s\n### ⏳ stagebot will apply `%s` on merge: it waits\n\nMerge commit %s of #%d waits: %s\n", Marker(stage), stage, ShortSHA(sha), number, why)
}

// MergePolicyDenied says a stage's policies deny the plan of merge commit
// sha, and no approval of the PR's plan at head covers it.
func MergePolicyDenied(stage, sha, head string) string {
	return fmt.Sprintf("%s\n### 🛑 stagebot did not apply `%s` on merge\n\nThe policies of `%s` deny the plan of merge commit %s, and no policy owner approved this pull request's plan at its head %s for all of it (an approval there carries over to the merge for what it approved).\n\n**What to do:** fix what the policies deny in a new pull request, or have a policy owner approve its plan with `/approve %s` before it is merged.\n",
		MergeMarker, stage, stage, ShortSHA(sha), ShortSHA(head), stage)
}

// MergeSecretFailed is a stage's comment when the Kubernetes secret it
// needs could not be written on merge.
func MergeSecretFailed(stage string, err error) string {
	return fmt.Sprintf("%s\n### ❌ stagebot did not apply `%s` on merge\n\nThe Kubernetes secret it needs could not be written: %s\n", Marker(stage), stage, err)
}

// Interrupted is a stage's comment when an apply (by PR number at head,
// started at started) died half-way; lockID is the state lock it still
// holds ("" when none is known).
func Interrupted(stage string, number int, head string, started time.Time, lockID string) string {
	lock := "If Terraform reports its state is locked, the interrupted run still holds the state lock: once you are sure nothing runs, release it with `terraform force-unlock` on the stage."
	if lockID != "" {
		lock = fmt.Sprintf("**The interrupted run still holds the state lock** (ID `%s`). Once you are sure no Terraform runs on `%s`, release it in the stage's directory with:\n\n```sh\nterraform force-unlock %s\n```", lockID, stage, lockID)
	}
	return fmt.Sprintf("%s\n### ⚠️ stagebot: the apply of `%s` was interrupted\n\n"+
		"The apply that started at %s (#%d, %s) did not finish: the bot stopped during it. stagebot does not apply again on its own. "+
		"The stage stays locked to #%d.\n\n**What to do:** comment `/plan %s` to see what the interrupted apply left, then `/apply %s`.\n\n%s\n",
		Marker(stage), stage, started.UTC().Format(time.RFC3339), number, ShortSHA(head), number, stage, stage, lock)
}

// TreeMarker marks the comment that says a commit cannot be checked out.
const TreeMarker = "<!-- stagebot:tree -->"

// TreeRefused says why commit sha cannot be checked out.
func TreeRefused(sha, reason string) string {
	return fmt.Sprintf("%s\n❌ **stagebot cannot plan %s:** %s\n\nNothing of this commit is planned or applied. Fix the tree and push.\n", TreeMarker, ShortSHA(sha), reason)
}

// Retired is a stage's comment once the PR (at head) no longer changes it.
func Retired(stage, head string) string {
	return fmt.Sprintf("%s\n### stagebot: `%s`\n\nThis pull request no longer changes stage `%s` (as of %s): there is nothing to plan or apply for it.\n", Marker(stage), stage, stage, ShortSHA(head))
}

// Unlocked answers /unlock: the stages whose lock was released.
func Unlocked(released []string) string {
	if len(released) == 0 {
		return "This pull request held no lock on those stages."
	}
	return fmt.Sprintf("🔓 Released this pull request's lock on `%s`. Other pull requests may apply them now; this one must `/plan` again before it applies.", strings.Join(released, "`, `"))
}

// ReleasedMarker marks a comment about a lock released from the dashboard.
func ReleasedMarker(stage string, at time.Time) string {
	return fmt.Sprintf("<!-- stagebot:released=%s at=%d -->", stage, at.UnixNano())
}

// Released tells a PR that user released its lock on stage from the
// dashboard.
func Released(stage, user string, at time.Time) string {
	return fmt.Sprintf("%s\n🔓 @%s released this pull request's lock on `%s` from stagebot's dashboard. Other pull requests may apply it now; this one must `/plan` again before it applies.\n", ReleasedMarker(stage, at), user, stage)
}

// PolicyApproved answers /approve: the stages whose denied plan user
// approved, and those whose plan passes.
func PolicyApproved(user string, approved, passed []string) string {
	var b strings.Builder
	if len(approved) > 0 {
		fmt.Fprintf(&b, "🛡️ @%s approved the current plan of `%s` although its policies deny it. This approval is recorded and holds for this plan only: a new plan is checked again. It may be applied now.\n", user, strings.Join(approved, "`, `"))
	}
	if len(passed) > 0 {
		fmt.Fprintf(&b, "The plan of `%s` passes its policies: there is nothing to approve.\n", strings.Join(passed, "`, `"))
	}
	if b.Len() == 0 {
		b.WriteString("No stage of this pull request has policies.")
	}
	return b.String()
}
