package comments

import "fmt"

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

// RequirementFailed refuses an apply whose requirement does not hold.
func RequirementFailed(command, requirement, why, next string) Refusal {
	return Refusal{Command: command, Why: fmt.Sprintf("the `%s` requirement is not met: %s", requirement, why), Next: next}
}
