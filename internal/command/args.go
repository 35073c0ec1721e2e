package command

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// PlanArgs are the Terraform arguments a /plan may pass after `--`: these
// and no others. Each becomes one typed option of terraform-exec, never
// a raw argument.
type PlanArgs struct {
	// Targets and Replace are resource addresses (-target, -replace).
	Targets, Replace []string
	// Vars are name=value (-var).
	Vars []string
	// NoRefresh is -refresh=false.
	NoRefresh bool
}

// AllowedArgs lists what PlanArgs may hold, for refusals and /help.
const AllowedArgs = "`-target=ADDRESS`, `-replace=ADDRESS`, `-var NAME=VALUE`, `-refresh=false`"

// Empty reports whether a holds no argument.
func (a PlanArgs) Empty() bool {
	return len(a.Targets) == 0 && len(a.Replace) == 0 && len(a.Vars) == 0 && !a.NoRefresh
}

// Partial reports whether a plan with a leaves changes out: it targets
// addresses or skips the refresh.
func (a PlanArgs) Partial() bool { return len(a.Targets) > 0 }

// String is the arguments as a user writes them.
func (a PlanArgs) String() string {
	var parts []string
	for _, t := range a.Targets {
		parts = append(parts, "-target="+t)
	}
	for _, r := range a.Replace {
		parts = append(parts, "-replace="+r)
	}
	for _, v := range a.Vars {
		parts = append(parts, "-var "+v)
	}
	if a.NoRefresh {
		parts = append(parts, "-refresh=false")
	}
	return strings.Join(parts, " ")
}

// varName is a Terraform variable name.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_-]{0,63}$`)

// ReservedVars are the variables the bot sets itself; a /plan may not.
var ReservedVars = map[string]bool{"instance": true, "state_dir": true}

// ParsePlanArgs reads the arguments after `--` of a /plan. Anything not
// on the allowlist is refused with the list.
func ParsePlanArgs(fields []string) (PlanArgs, error) {
	var a PlanArgs
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		flag, value, hasValue := strings.Cut(f, "=")
		if !hasValue && (flag == "-target" || flag == "-replace" || flag == "-var") && i+1 < len(fields) {
			i++
			value, hasValue = fields[i], true
		}
		switch {
		case flag == "-target" && hasValue:
			if err := CheckAddress(value); err != nil {
				return a, err
			}
			a.Targets = append(a.Targets, value)
		case flag == "-replace" && hasValue:
			if err := CheckAddress(value); err != nil {
				return a, err
			}
			a.Replace = append(a.Replace, value)
		case flag == "-var" && hasValue:
			if err := checkVar(value); err != nil {
				return a, err
			}
			a.Vars = append(a.Vars, value)
		case f == "-refresh=false":
			a.NoRefresh = true
		default:
			return a, &UsageError{Msg: fmt.Sprintf("`%s` is not allowed after `--`; a plan may take %s", printable(f), AllowedArgs)}
		}
	}
	if a.Empty() {
		return a, &UsageError{Msg: "nothing follows `--`; a plan may take " + AllowedArgs}
	}
	return a, nil
}

// checkVar refuses a -var that is not NAME=VALUE, or that names a
// variable the bot sets itself.
func checkVar(v string) error {
	name, _, ok := strings.Cut(v, "=")
	if !ok || !varName.MatchString(name) {
		return &UsageError{Msg: fmt.Sprintf("`-var %s`: write `-var NAME=VALUE`", printable(v))}
	}
	if ReservedVars[name] {
		return &UsageError{Msg: fmt.Sprintf("`-var %s=…`: the bot sets `%s` itself", name, name)}
	}
	return nil
}

// CheckAddress refuses what is not a resource address
// (module.x.aws_instance.y["a"]): a traversal, nothing Terraform would
// evaluate.
func CheckAddress(addr string) error {
	_, err := ParseAddress(addr)
	return err
}

// ParseAddress is a resource address as the traversal it is, or the
// refusal of what is not one (see CheckAddress).
func ParseAddress(addr string) (hcl.Traversal, error) {
	bad := &UsageError{Msg: fmt.Sprintf("`%s` is not a resource address such as `module.net.aws_vpc.main` or `aws_instance.web[\"a\"]`", printable(addr))}
	if addr == "" || len(addr) > 512 || strings.ContainsAny(addr, "${}()\n\r*") {
		return nil, bad
	}
	trav, diags := hclsyntax.ParseTraversalAbs([]byte(addr), "", hcl.InitialPos)
	if diags.HasErrors() || len(trav) < 2 {
		return nil, bad
	}
	return trav, nil
}

// Check checks a again, as ParsePlanArgs did: what runs Terraform takes
// nothing on trust.
func (a PlanArgs) Check() error {
	for _, addr := range append(slices.Clone(a.Targets), a.Replace...) {
		if err := CheckAddress(addr); err != nil {
			return err
		}
	}
	for _, v := range a.Vars {
		if err := checkVar(v); err != nil {
			return err
		}
	}
	return nil
}
