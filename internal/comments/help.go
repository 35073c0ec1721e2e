// Package comments renders what the bot posts: plan and apply results,
// check-run summaries and replies to commands. It does no I/O.
package comments

import (
	"fmt"
	"strings"
)

// ReplyMarker marks the bot's reply to one comment, so a re-run of the same
// job edits that reply instead of posting another.
func ReplyMarker(commentID int64) string {
	return fmt.Sprintf("<!-- stagebot:reply-to=%d -->", commentID)
}

// HelpInput is what /help shows besides the commands.
type HelpInput struct {
	// Stages of the repository, in apply order; empty when unknown.
	Stages []string
	// WhoMayApply describes who may /apply and /unlock, e.g. "users with
	// write permission".
	WhoMayApply string
	// Problem, when set, is shown first: why the comment was not taken.
	Problem string
}

// Help renders the reply to /help, or to a command the bot could not take.
func Help(in HelpInput) string {
	var b strings.Builder
	if in.Problem != "" {
		fmt.Fprintf(&b, "**stagebot could not take this command:** %s\n\n", in.Problem)
	}
	b.WriteString("### stagebot commands\n\nWrite a command as the first line of a PR comment:\n\n")
	b.WriteString("| command | what it does |\n|---|---|\n")
	b.WriteString("| `/plan [stage...]` | plan the named stages, or every stage this PR affects |\n")
	b.WriteString("| `/plan stage -- -target=ADDRESS` | plan one stage with arguments: `-target=`, `-replace=`, `-var NAME=VALUE`, `-refresh=false`; once a targeted plan is applied, the stage is planned again in full |\n")
	b.WriteString("| `/apply [stage...]` | apply the saved plans of the named stages (or all ready ones) in order |\n")
	b.WriteString("| `/unlock [stage...]` | release this PR's lock on the stages |\n")
	b.WriteString("| `/import stage ADDRESS ID` | plan importing the object ID to ADDRESS (an `import` block, for this plan only); `/apply stage` applies it |\n")
	b.WriteString("| `/state rm stage ADDRESS`, `/state mv stage FROM TO` | plan taking ADDRESS out of the state, leaving the object as it is (a `removed` block), or moving it (a `moved` block); `/apply stage` applies it |\n")
	b.WriteString("| `/approve [stage...]` | as a policy owner, approve the current plans of the stages although their policies deny them |\n")
	b.WriteString("| `/drift [stage...]` | look for changes made outside pull requests now, on the default branch (also in an issue); drift is reported in issues labelled `" + DriftLabel + "` |\n")
	b.WriteString("| `/help` | show this message |\n")
	b.WriteString("\nA stage's check run has buttons too: **Re-plan** runs `/plan <stage>`, and **Apply** (offered when `/apply` would be allowed) runs `/apply <stage>`, as whoever presses it.\n")
	if len(in.Stages) > 0 {
		fmt.Fprintf(&b, "\nStages of this repository, in apply order: %s.\n", "`"+strings.Join(in.Stages, "` → `")+"`")
	}
	if in.WhoMayApply != "" {
		fmt.Fprintf(&b, "\n`/apply`, `/unlock`, `/import` and `/state` may be used by %s.\n", in.WhoMayApply)
	}
	return b.String()
}
