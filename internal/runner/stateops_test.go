package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"

	"github.com/stagebot/stagebot/internal/command"
)

// The blocks a state operation writes are exactly one block of the
// operation's kind, whatever the id holds: an HCL string that could end
// the literal, a template, a heredoc or a newline stays a string.
func TestStateOpBlocks(t *testing.T) {
	ids := []string{"abc-123", `x" } resource "terraform_data" "evil" { input = "`, "${file(\"/etc/passwd\")}", "%{ for x in y }x%{ endfor }", "a\\\"b", "<<EOT\nx\nEOT"}
	for _, id := range ids {
		src, err := stateOpBlock(command.StateOp{Op: command.OpImport, Address: `module.m.terraform_data.db["k"]`, ID: id})
		if err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		f, diags := hclsyntax.ParseConfig(src, "x.tf", hcl.InitialPos)
		if diags.HasErrors() {
			t.Fatalf("%q: the block does not parse: %v\n%s", id, diags, src)
		}
		body := f.Body.(*hclsyntax.Body)
		if len(body.Blocks) != 1 || body.Blocks[0].Type != "import" || len(body.Attributes) != 0 {
			t.Fatalf("%q: not one import block:\n%s", id, src)
		}
		attrs := body.Blocks[0].Body.Attributes
		v, diags := attrs["id"].Expr.Value(nil) // no functions, no variables: a literal only
		if diags.HasErrors() || v.AsString() != id {
			t.Fatalf("%q: id is %#v (%v)\n%s", id, v, diags, src)
		}
		if _, ok := attrs["to"].Expr.(*hclsyntax.ScopeTraversalExpr); !ok || len(attrs) != 2 {
			t.Fatalf("%q: to is not a bare address:\n%s", id, src)
		}
	}
	for _, op := range []command.StateOp{{Op: command.OpRemove, Address: "terraform_data.db"}, {Op: command.OpMove, Address: "terraform_data.a", To: "module.b.terraform_data.a"}} {
		src, err := stateOpBlock(op)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{command.OpRemove: "removed", command.OpMove: "moved"}[op.Op]
		f, diags := hclsyntax.ParseConfig(src, "x.tf", hcl.InitialPos)
		if diags.HasErrors() || len(f.Body.(*hclsyntax.Body).Blocks) != 1 || f.Body.(*hclsyntax.Body).Blocks[0].Type != want {
			t.Fatalf("%s: %v\n%s", op.Op, diags, src)
		}
		if op.Op == command.OpRemove && !strings.Contains(string(src), "destroy = false") {
			t.Errorf("a removal must keep the object:\n%s", src)
		}
	}
	for _, bad := range []string{"x", "a.b) + file(\"/etc/passwd\"", "a.b\n}\nresource \"x\" \"y\" {", "a.${b}"} {
		if _, err := stateOpBlock(command.StateOp{Op: command.OpImport, Address: bad, ID: "i"}); err == nil {
			t.Errorf("address %q accepted", bad)
		}
	}
}

// The block is written into the stage's directory of the checkout and
// nowhere else: not over a file of the PR, not through a link the PR
// made; and it goes again.
func TestStateOpFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "terraform", "infrastructure")
	os.MkdirAll(dir, 0o755)
	run := Run{Root: root, Dir: dir, State: &command.StateOp{Op: command.OpImport, Address: "terraform_data.x", ID: "1"}}
	remove, err := writeStateOp(run)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, StateOpFile)); err != nil {
		t.Fatal(err)
	}
	remove()
	if _, err := os.Stat(filepath.Join(dir, StateOpFile)); !os.IsNotExist(err) {
		t.Fatal("the block stays after the plan")
	}
	// The PR has a file of that name: refused, and left alone.
	os.WriteFile(filepath.Join(dir, StateOpFile), []byte("# the PR's\n"), 0o644)
	if _, err := writeStateOp(run); err == nil || !strings.Contains(err.Error(), "rename it") {
		t.Fatalf("a PR's file of the block's name: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, StateOpFile)); string(b) != "# the PR's\n" {
		t.Fatal("the PR's file was overwritten")
	}
	os.Remove(filepath.Join(dir, StateOpFile))
	// The PR links the file's name, or the stage dir, out of the checkout.
	outside := t.TempDir()
	os.Symlink(filepath.Join(outside, "planted.tf"), filepath.Join(dir, StateOpFile))
	if _, err := writeStateOp(run); err == nil {
		t.Fatal("wrote through a link")
	}
	os.Remove(filepath.Join(dir, StateOpFile))
	linked := filepath.Join(root, "terraform", "linked")
	os.Symlink(outside, linked)
	if _, err := writeStateOp(Run{Root: root, Dir: linked, State: run.State}); err == nil {
		t.Fatal("wrote through a linked stage dir")
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("wrote outside the checkout: %v", entries)
	}
}
