package comments

import (
	"fmt"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/redact"
)

// Step is what one of a stage's steps (stagebot.yaml steps) did.
type Step struct {
	Phase, Name string
	Output      string
	// Failure says how it failed; empty when it succeeded.
	Failure  string
	WarnOnly bool
	Took     time.Duration
}

// Blocks reports whether the step failed its phase.
func (s Step) Blocks() bool { return s.Failure != "" && !s.WarnOnly }

// blockingStep is the first step that fails its phase, or nil.
func blockingStep(steps []Step) *Step {
	for i := range steps {
		if steps[i].Blocks() {
			return &steps[i]
		}
	}
	return nil
}

// stepInlineLines is how many lines of a step's output are shown open;
// a longer output is folded.
const stepInlineLines = 12

// maxStepChars bounds one step's output in a comment.
const maxStepChars = 12000

// Steps renders what the steps did, each under its own heading: the
// output open when short, folded when long, redacted.
func Steps(steps []Step, red *redact.Set) string {
	if len(steps) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("#### Steps\n")
	for _, s := range steps {
		icon, how := "✅", "passed"
		switch {
		case s.Blocks():
			icon, how = "❌", "failed: "+s.Failure
		case s.Failure != "":
			icon, how = "⚠️", "failed (warn only): "+s.Failure
		}
		fmt.Fprintf(&b, "\n%s **`%s` · %s** %s (%s)\n", icon, s.Phase, s.Name, red.Redact(how), s.Took.Round(10*time.Millisecond))
		out := strings.TrimSpace(red.Redact(s.Output))
		if out == "" {
			continue
		}
		if runes(out) > maxStepChars {
			out, _ = headTail(out, maxStepChars)
		}
		block := "```\n" + fence(out) + "\n```\n"
		if strings.Count(out, "\n") >= stepInlineLines {
			fmt.Fprintf(&b, "\n<details><summary>Output of %s (%d lines)</summary>\n\n%s\n</details>\n", s.Name, strings.Count(out, "\n")+1, block)
		} else {
			b.WriteString("\n" + block)
		}
	}
	return b.String()
}
