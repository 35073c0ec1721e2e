// Package command parses the comment commands: /plan, /apply, /unlock,
// /approve, /drift, /import, /state and /help, from the first line of a
// comment.
package command

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Names of the commands.
const (
	Plan   = "plan"
	Apply  = "apply"
	Unlock = "unlock"
	Drift  = "drift"
	Help   = "help"
	// Approve approves plans that the stages' policies deny.
	Approve = "approve"
	// Import and State plan a change of a stage's state (see StateOp).
	Import = "import"
	State  = "state"
)

// Known lists the commands in the order /help shows them.
var Known = []string{Plan, Apply, Unlock, Approve, Import, State, Drift, Help}

// MaxLineBytes bounds the first line the parser looks at; a longer line is
// refused rather than scanned.
const MaxLineBytes = 1024

// ErrNotCommand means the line is ordinary conversation, not addressed to the
// bot: it is ignored without a reply.
var ErrNotCommand = errors.New("not a command")

// UsageError is a command the bot recognised as addressed to it but cannot
// accept; the message tells the user what to write instead.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Command is one parsed command.
type Command struct {
	Name string
	// Stages named by the user; empty means every affected stage.
	Stages []string
	// Args are a /plan's Terraform arguments (after --), for its one stage.
	Args PlanArgs
	// State is the state operation of /import and /state, on Stages[0].
	State *StateOp
}

func (c Command) String() string {
	if c.State != nil {
		return c.State.Command(c.Stages[0])
	}
	s := strings.TrimSpace("/" + c.Name + " " + strings.Join(c.Stages, " "))
	if !c.Args.Empty() {
		s += " -- " + c.Args.String()
	}
	return s
}

// stageName is a stage, or one instance of it (tenant:acme).
var stageName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}(:[a-z0-9][a-z0-9_-]{0,62})?$`)

// Parse reads a command from a comment's first line. It returns ErrNotCommand
// for lines that are not addressed to the bot and a *UsageError for lines that
// are but are wrong. Arguments are only ever stage names; nothing the user
// writes can become a Terraform flag or reach a shell.
func Parse(line string) (Command, error) {
	line = strings.TrimSpace(line)
	rest, ok := strings.CutPrefix(line, "/")
	if !ok {
		return Command{}, ErrNotCommand
	}
	word, args := rest, ""
	if i := strings.IndexFunc(rest, unicode.IsSpace); i >= 0 {
		word, args = rest[:i], rest[i:]
	}
	if !isWord(word) {
		// "/etc/hosts is wrong", "/ 2", "/:)": prose, not a command.
		return Command{}, ErrNotCommand
	}
	if len(line) > MaxLineBytes {
		return Command{}, &UsageError{Msg: fmt.Sprintf("the command line is longer than %d characters; write `/%s` followed by stage names", MaxLineBytes, strings.ToLower(word))}
	}
	if !utf8.ValidString(line) {
		return Command{}, &UsageError{Msg: "the command is not valid UTF-8"}
	}
	name := word
	if !isKnown(name) {
		if lower := strings.ToLower(word); isKnown(lower) {
			return Command{}, &UsageError{Msg: fmt.Sprintf("commands are lower case: write `/%s`", lower)}
		}
		return Command{}, &UsageError{Msg: fmt.Sprintf("unknown command `/%s`; the commands are %s", printable(word), list())}
	}
	if name == Import || name == State {
		return parseStateOp(name, strings.Fields(args))
	}
	cmd := Command{Name: name}
	fields := strings.Fields(args)
	if i := slices.Index(fields, "--"); i >= 0 && name == Plan {
		var err error
		if cmd.Args, err = ParsePlanArgs(fields[i+1:]); err != nil {
			return Command{}, err
		}
		if fields = fields[:i]; len(fields) != 1 {
			return Command{}, &UsageError{Msg: "arguments after `--` are for one stage: write `/plan STAGE -- " + printable(cmd.Args.String()) + "`"}
		}
	}
	seen := map[string]bool{}
	for _, arg := range fields {
		if name == Help {
			return Command{}, &UsageError{Msg: "`/help` takes no arguments"}
		}
		if strings.HasPrefix(arg, "-") {
			return Command{}, &UsageError{Msg: fmt.Sprintf("`/%s` takes stage names, not flags such as `%s`; Terraform's flags are set by the bot", name, printable(arg))}
		}
		if !stageName.MatchString(arg) {
			return Command{}, &UsageError{Msg: fmt.Sprintf("`%s` is not a stage name; stage names are lower-case letters, digits, `-` and `_` (and `stage:instance` for one instance)", printable(arg))}
		}
		if !seen[arg] {
			seen[arg] = true
			cmd.Stages = append(cmd.Stages, arg)
		}
	}
	return cmd, nil
}

func isKnown(name string) bool {
	for _, k := range Known {
		if k == name {
			return true
		}
	}
	return false
}

// isWord reports whether s looks like a command word: letters only. Letters of
// any script count, so a look-alike such as a Cyrillic "/аpply" is answered
// with guidance instead of silence (and is never taken for /apply).
func isWord(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, r := range s {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// printable shortens and escapes user text quoted back in a reply so it
// cannot break out of the code span or mention anyone.
func printable(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strings.NewReplacer("`", "'", "@", "@\u200b").Replace(s)
}

func list() string {
	parts := make([]string, len(Known))
	for i, k := range Known {
		parts[i] = "`/" + k + "`"
	}
	return strings.Join(parts, ", ")
}
