package config

import (
	"fmt"
	"time"
)

// Steps are commands a stage runs around its plan and apply (a linter, a
// policy scanner, a cost estimate), in the same sandbox and with the same
// credentials as the phase they belong to. They come from stagebot.yaml as
// the turn's rules have it (the default branch's), never from a PR's.
type Steps struct {
	// PrePlan run after init, before plan; PostPlan after the plan is
	// kept, with the plan file and its JSON. A failing one fails the
	// stage's check run and its plan cannot be applied, unless it is
	// warn_only.
	PrePlan  []Step `yaml:"pre_plan"`
	PostPlan []Step `yaml:"post_plan"`
	// PreApply run before apply (a failing one stops the apply before
	// anything changes); PostApply after it (a failing one is reported,
	// what was applied stays applied).
	PreApply  []Step `yaml:"pre_apply"`
	PostApply []Step `yaml:"post_apply"`
}

// Phases of steps, as a step's output names them.
const (
	PrePlan   = "pre_plan"
	PostPlan  = "post_plan"
	PreApply  = "pre_apply"
	PostApply = "post_apply"
)

// Of returns the steps of phase.
func (s *Steps) Of(phase string) []Step {
	if s == nil {
		return nil
	}
	switch phase {
	case PrePlan:
		return s.PrePlan
	case PostPlan:
		return s.PostPlan
	case PreApply:
		return s.PreApply
	case PostApply:
		return s.PostApply
	}
	return nil
}

// Step is one command, run by /bin/sh -c in the stage's directory.
type Step struct {
	Name string `yaml:"name"`
	Run  string `yaml:"run"`
	// Timeout bounds the step (default DefaultStepTimeout); the phase's
	// own timeout bounds it too.
	Timeout time.Duration `yaml:"timeout"`
	// WarnOnly: a failure is shown, and fails nothing.
	WarnOnly bool `yaml:"warn_only"`
}

// DefaultStepTimeout bounds a step without a timeout of its own.
const DefaultStepTimeout = 10 * time.Minute

// MaxStepTimeout is the longest timeout a step may ask for.
const MaxStepTimeout = time.Hour

// validateSteps checks a stage's steps (or the repository's, path
// "steps"), and fills in each step's default timeout.
func validateSteps(v *validator, s *Steps, path ...any) {
	if s == nil {
		return
	}
	for _, phase := range []string{PrePlan, PostPlan, PreApply, PostApply} {
		names := map[string]bool{}
		for j := range s.Of(phase) {
			st := &s.Of(phase)[j]
			at := append(append([]any{}, path...), phase, j)
			switch {
			case !namePattern.MatchString(st.Name):
				v.fail(fmt.Sprintf("%q is not a valid step name (lower-case letters, digits, - and _)", st.Name), append(at, "name")...)
			case names[st.Name]:
				v.fail(fmt.Sprintf("step %q is named twice in %s", st.Name, phase), append(at, "name")...)
			}
			names[st.Name] = true
			if st.Run == "" {
				v.fail("a step needs a command to run", append(at, "run")...)
			}
			switch {
			case st.Timeout < 0 || st.Timeout > MaxStepTimeout:
				v.fail(fmt.Sprintf("must be between 1s and %s, got %s", MaxStepTimeout, st.Timeout), append(at, "timeout")...)
			case st.Timeout == 0:
				st.Timeout = DefaultStepTimeout
			}
		}
	}
}
