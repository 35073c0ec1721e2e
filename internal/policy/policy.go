// Package policy checks Terraform plans against Rego policies with OPA,
// in-process. A policy is a module of package stagebot; its deny rules
// block an apply until an owner approves, its warn rules are only shown:
//
//	package stagebot
//
//	deny contains msg if {
//		some rc in input.resource_changes
//		"delete" in rc.change.actions
//		msg := sprintf("%s would be destroyed", [rc.address])
//	}
//
// The input is the plan as `terraform show -json` prints it.
package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/util"
)

// Package is the Rego package every policy declares.
const Package = "stagebot"

// Timeout bounds one evaluation.
const Timeout = 10 * time.Second

// unsafe are the built-ins a policy may not call: a policy sees the PR's
// plan, and its messages are posted on the PR, so it must not reach the
// network or read the bot's environment (opa.runtime holds it).
var unsafe = map[string]struct{}{
	"http.send":          {},
	"net.lookup_ip_addr": {},
	"opa.runtime":        {},
	"trace":              {},
}

// Module is one policy file.
type Module struct {
	Path   string // as in the repository, e.g. policies/database.rego
	Source []byte
}

// Set is compiled policies, ready to evaluate plans; safe for concurrent use.
type Set struct {
	paths []string
	query rego.PreparedEvalQuery
}

// Paths are the policy files of the set.
func (s *Set) Paths() []string { return s.paths }

// Compile parses and compiles the modules. An error names the file and line.
func Compile(ctx context.Context, modules []Module) (*Set, error) {
	if len(modules) == 0 {
		return nil, errors.New("no policy files")
	}
	opts := []func(*rego.Rego){
		rego.Query("data." + Package),
		rego.UnsafeBuiltins(unsafe),
		rego.EnablePrintStatements(false),
		rego.StrictBuiltinErrors(true),
		rego.SetRegoVersion(ast.RegoV1),
	}
	s := &Set{}
	for _, m := range modules {
		mod, err := ast.ParseModuleWithOpts(m.Path, string(m.Source), ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("policy %s", err)
		}
		if pkg := strings.TrimPrefix(mod.Package.Path.String(), "data."); pkg != Package {
			return nil, fmt.Errorf("policy %s:%d: package %s: a stagebot policy is package %s", m.Path, mod.Package.Location.Row, pkg, Package)
		}
		opts = append(opts, rego.ParsedModule(mod))
		s.paths = append(s.paths, m.Path)
	}
	q, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("policy %w", err)
	}
	s.query = q
	return s, nil
}

// Result is what the policies say of one plan.
type Result struct {
	// Deny are the messages of the deny rules: the plan may not be applied
	// without an owner's approval.
	Deny []string
	// Warn are the messages of the warn rules, shown only.
	Warn []string
}

// Denied reports whether a deny rule fired.
func (r Result) Denied() bool { return len(r.Deny) > 0 }

// Input is a plan prepared for evaluation: plan JSON converted once.
type Input struct{ value ast.Value }

// NewInput converts a plan (anything that marshals to the plan's JSON).
func NewInput(plan any) (Input, error) {
	raw, err := json.Marshal(plan)
	if err != nil {
		return Input{}, fmt.Errorf("policy input: %w", err)
	}
	var doc any
	if err := util.UnmarshalJSON(raw, &doc); err != nil {
		return Input{}, fmt.Errorf("policy input: %w", err)
	}
	v, err := ast.InterfaceToValue(doc)
	if err != nil {
		return Input{}, fmt.Errorf("policy input: %w", err)
	}
	return Input{value: v}, nil
}

// Eval evaluates the policies against a plan.
func (s *Set) Eval(ctx context.Context, in Input) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	rs, err := s.query.Eval(ctx, rego.EvalParsedInput(in.value))
	if err != nil {
		return Result{}, fmt.Errorf("evaluate policies: %w", err)
	}
	var out Result
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return out, nil
	}
	doc, _ := rs[0].Expressions[0].Value.(map[string]any)
	out.Deny = messages(doc["deny"])
	out.Warn = messages(doc["warn"])
	return out, nil
}

// messages turns a rule's value (a set, or a single message) into sorted
// strings; a message that is not a string is shown as JSON.
func messages(v any) []string {
	var items []any
	switch x := v.(type) {
	case nil:
		return nil
	case []any:
		items = x
	default:
		items = []any{x}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
			continue
		}
		if b, ok := it.(bool); ok && !b {
			continue // deny if false: nothing denied
		}
		b, _ := json.Marshal(it)
		out = append(out, string(b))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
