package comments

import (
	"fmt"
	"strings"
)

// RulesBase is the commit whose rules (stagebot.yaml, policies) judge a
// pull request: the tip of its default branch when it was planned.
type RulesBase struct {
	Branch string
	SHA    string
}

// RulesNote says that a PR changes the rules it is judged by: the change
// takes effect once merged; the PR itself is judged by base's. "" when the
// PR changes none.
func RulesNote(files []string, base RulesBase) string {
	if len(files) == 0 {
		return ""
	}
	return fmt.Sprintf("⚖️ **This pull request changes the rules stagebot judges changes by** (`%s`). They take effect once it is merged. This pull request itself is judged by the rules of `%s` at %s: its approvals, apply rights and policies are those.",
		strings.Join(files, "`, `"), base.Branch, ShortSHA(base.SHA))
}

// ConfigMarker marks the comment that says stagebot.yaml is broken.
const ConfigMarker = "<!-- stagebot:config -->"

// BrokenConfig tells a PR that the repository's stagebot.yaml (file) on
// branch is invalid (problem says how), so nothing is planned.
func BrokenConfig(file, branch, problem string) string {
	return fmt.Sprintf("%s\n❌ **stagebot cannot plan this pull request:** `%s` on `%s` is invalid.\n\n```\n%s\n```\n\nFix it on `%s`; stagebot reads it from there, never from a pull request.\n", ConfigMarker, file, branch, problem, branch)
}
