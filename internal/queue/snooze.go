package queue

import (
	"errors"
	"time"

	"github.com/riverqueue/river"
)

// Snooze is what a handler returns for a job that must wait: River runs
// it again after d, and the wait is not counted as a failed attempt.
func Snooze(d time.Duration) error { return river.JobSnooze(max(d, 0)) }

// Snoozed reports whether a handler's error asks for its job to wait, and
// how long.
func Snoozed(err error) (time.Duration, bool) {
	var s *river.JobSnoozeError
	if errors.As(err, &s) {
		return s.Duration, true
	}
	return 0, false
}
