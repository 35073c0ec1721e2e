package command

import (
	"fmt"
	"strings"
	"unicode"
)

// State operations, as /import and /state name them.
const (
	OpImport = "import"
	OpRemove = "rm"
	OpMove   = "mv"
)

// StateOp is a change of a stage's state that a PR asks for: an import, a
// removal from the state (the object stays), or a move. It is planned as
// an import, removed or moved block and applied like any plan.
type StateOp struct {
	Op string // OpImport, OpRemove or OpMove
	// Address is what is imported, removed or moved; To, where it moves.
	Address, To string
	// ID is the object's id in its provider (an import).
	ID string
}

// Command is the operation on stage as a user writes it.
func (s StateOp) Command(stage string) string {
	switch s.Op {
	case OpImport:
		return "/import " + stage + " " + s.Address + " " + s.ID
	case OpMove:
		return "/state mv " + stage + " " + s.Address + " " + s.To
	}
	return "/state rm " + stage + " " + s.Address
}

// parseStateOp reads what follows /import (name Import) or /state: the
// stage, then the operation's addresses and id.
func parseStateOp(name string, fields []string) (Command, error) {
	usage := map[string]string{
		OpImport: "`/import STAGE ADDRESS ID`",
		OpRemove: "`/state rm STAGE ADDRESS`",
		OpMove:   "`/state mv STAGE FROM TO`",
	}
	op := OpImport
	if name == State {
		if len(fields) == 0 || (fields[0] != OpRemove && fields[0] != OpMove) {
			return Command{}, &UsageError{Msg: "write " + usage[OpRemove] + " or " + usage[OpMove]}
		}
		op, fields = fields[0], fields[1:]
	}
	want := map[string]int{OpImport: 3, OpRemove: 2, OpMove: 3}[op]
	if len(fields) != want {
		return Command{}, &UsageError{Msg: "write " + usage[op]}
	}
	if !stageName.MatchString(fields[0]) {
		return Command{}, &UsageError{Msg: fmt.Sprintf("`%s` is not a stage name; write %s", printable(fields[0]), usage[op])}
	}
	s := StateOp{Op: op, Address: fields[1]}
	if err := CheckAddress(s.Address); err != nil {
		return Command{}, err
	}
	switch op {
	case OpImport:
		s.ID = fields[2]
		if err := checkID(s.ID); err != nil {
			return Command{}, err
		}
	case OpMove:
		s.To = fields[2]
		if err := CheckAddress(s.To); err != nil {
			return Command{}, err
		}
	}
	return Command{Name: name, Stages: fields[:1], State: &s}, nil
}

// checkID refuses an import id that is not printable text; it is written
// as an HCL string literal, escaped, so no character can end it.
func checkID(id string) error {
	if len(id) > 512 || strings.IndexFunc(id, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return &UsageError{Msg: "the import id must be printable text of at most 512 characters"}
	}
	return nil
}
