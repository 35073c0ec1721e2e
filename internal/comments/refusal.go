package comments

import (
	"fmt"
	"strings"
)

// Refusal is a command the bot would not run: why, and what to do instead.
type Refusal struct {
	Command string // e.g. "/apply platform"
	Why     string
	Next    string
}

// Render writes the refusal as a reply to the command's comment.
func (r Refusal) Render(commentID int64) string {
	return fmt.Sprintf("%s\n🚫 **`%s` was not run:** %s\n\n**What to do:** %s\n", ReplyMarker(commentID), r.Command, r.Why, r.Next)
}

// Locked refuses an apply of a stage another PR holds.
func Locked(command, stage string, owner int) Refusal {
	return Refusal{
		Command: command,
		Why:     fmt.Sprintf("stage `%s` is locked by #%d, which applied it and is not merged or closed yet.", stage, owner),
		Next:    fmt.Sprintf("apply or close #%d, or comment `/unlock %s` there; then comment `/plan %s` here.", owner, stage, stage),
	}
}

// NoPermission refuses a user without the role a command needs.
func NoPermission(command, user, have, need string) Refusal {
	return Refusal{
		Command: command,
		Why:     fmt.Sprintf("@%s has the `%s` role on this repository; `%s` needs `%s` or higher.", user, have, command, need),
		Next:    fmt.Sprintf("ask someone with `%s` permission to comment `%s`.", need, command),
	}
}

// NotAnApplier refuses an apply or unlock of a stage by someone not among
// those stagebot.yaml names for it, and says whom to ask.
func NotAnApplier(command, user, stage string, users, teams []string) Refusal {
	ask := "someone named there"
	if len(teams) > 0 {
		ask = "a member of @" + teams[0]
	} else if len(users) > 0 {
		ask = "@" + users[0]
	}
	return Refusal{
		Command: command,
		Why:     fmt.Sprintf("@%s may not apply `%s`: `stagebot.yaml` lets only %s do that.", user, stage, Appliers(users, teams)),
		Next:    fmt.Sprintf("ask %s to comment `%s`.", ask, command),
	}
}

// Appliers names who may apply a stage: "members of @org/team or @user".
func Appliers(users, teams []string) string {
	var who []string
	for _, t := range teams {
		who = append(who, "members of @"+t)
	}
	for _, u := range users {
		who = append(who, "@"+strings.TrimPrefix(u, "@"))
	}
	return strings.Join(who, " or ")
}

// RequirementFailed refuses an apply whose requirement does not hold.
func RequirementFailed(command, requirement, why, next string) Refusal {
	return Refusal{Command: command, Why: fmt.Sprintf("the `%s` requirement is not met: %s", requirement, why), Next: next}
}
