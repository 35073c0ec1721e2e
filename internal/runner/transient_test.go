package runner

import (
	"context"
	"errors"
	"testing"
)

func TestTransientFailures(t *testing.T) {
	for _, tc := range []struct {
		step, output string
		err          error
		want         bool
	}{
		{"plan", "Error: Error acquiring the state lock\n\nError message: resource temporarily unavailable", errors.New("exit 1"), true},
		{"init", "Error: Failed to get existing workspaces: Unexpected HTTP response code 503", errors.New("exit 1"), true},
		{"plan", "Error: Error loading state: giving up after 3 attempt(s)", errors.New("exit 1"), true},
		{"plan", "Error: error loading state: SlowDown: Please reduce your request rate.", errors.New("exit 1"), true},
		{"plan", "Error: Reference to undeclared resource", errors.New("exit 1"), false},
		{"plan", "Error: Invalid value for variable\n\nstate must be one of ...", errors.New("exit 1"), false},
		// What Terraform printed before its error does not count.
		{"plan", "Refreshing state... (503 things)\n\nError: Unsupported argument", errors.New("exit 1"), false},
		{"show", "Error: Error acquiring the state lock", errors.New("exit 1"), false},
		{"plan", "Error: Error acquiring the state lock", context.Canceled, false},
	} {
		if got := transient(&RunError{Step: tc.step, Output: tc.output, Err: tc.err}); got != tc.want {
			t.Errorf("%s %q (%v): transient = %v", tc.step, tc.output, tc.err, got)
		}
	}
	if transient(errors.New("no RunError")) || transient(nil) {
		t.Error("only a RunError is transient")
	}
}
