package runner

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/hashicorp/hcl/v2/hclwrite"
	"github.com/zclconf/go-cty/cty"

	"github.com/stagebot/stagebot/internal/command"
)

// StateOpFile is the file a state operation's block is written to in the
// stage's directory, for its plan only.
const StateOpFile = "stagebot_state_operation.tf"

// stateOpBlock is the HCL of op: an import, removed (the object stays:
// destroy = false) or moved block. Addresses are written as traversals
// and the id as an escaped string literal, so nothing a user writes is
// evaluated.
func stateOpBlock(op command.StateOp) ([]byte, error) {
	from, err := command.ParseAddress(op.Address)
	if err != nil {
		return nil, err
	}
	f := hclwrite.NewEmptyFile()
	body := f.Body()
	body.AppendUnstructuredTokens(hclwrite.Tokens{{Type: hclsyntax.TokenComment, Bytes: []byte("# Written by stagebot for " + op.Op + ", for this plan only.\n")}})
	switch op.Op {
	case command.OpImport:
		b := body.AppendNewBlock("import", nil).Body()
		b.SetAttributeTraversal("to", from)
		b.SetAttributeValue("id", cty.StringVal(op.ID))
	case command.OpRemove:
		b := body.AppendNewBlock("removed", nil).Body()
		b.SetAttributeTraversal("from", from)
		b.AppendNewBlock("lifecycle", nil).Body().SetAttributeValue("destroy", cty.False)
	case command.OpMove:
		to, err := command.ParseAddress(op.To)
		if err != nil {
			return nil, err
		}
		b := body.AppendNewBlock("moved", nil).Body()
		b.SetAttributeTraversal("from", from)
		b.SetAttributeTraversal("to", to)
	default:
		return nil, fmt.Errorf("unknown state operation %q", op.Op)
	}
	return f.Bytes(), nil
}

// writeStateOp writes run's state operation into its stage directory,
// through os.Root so that no link of the checkout leads the write out of
// it, and never over a file the checkout has. remove takes it away again.
func writeStateOp(run Run) (remove func(), err error) {
	remove = func() {}
	if run.State == nil {
		return remove, nil
	}
	data, err := stateOpBlock(*run.State)
	if err != nil {
		return remove, err
	}
	rel, err := filepath.Rel(run.root(), filepath.Join(run.Dir, StateOpFile))
	if err != nil {
		return remove, err
	}
	root, err := os.OpenRoot(run.root())
	if err != nil {
		return remove, err
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		root.Close()
		return remove, fmt.Errorf("the stage has a file named %s, which the bot writes a state operation's block to: rename it", StateOpFile)
	}
	if err != nil {
		root.Close()
		return remove, err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	remove = func() { root.Remove(rel); root.Close() }
	if err != nil {
		remove()
		return func() {}, err
	}
	return remove, nil
}
