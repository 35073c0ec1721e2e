package queue

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/jobs"
)

// snoozer waits its first attempt of a PR job, then records it.
type snoozer struct {
	*recorder
	tries atomic.Int32
}

func (s *snoozer) PullRequest(ctx context.Context, j jobs.PullRequestJob) error {
	if s.tries.Add(1) == 1 {
		return fmt.Errorf("wait for the quota: %w", Snooze(200*time.Millisecond))
	}
	return s.recorder.PullRequest(ctx, j)
}

// A job that snoozes (wrapped, as the workflow's errors are) runs again
// after its wait, and the wait is no failed attempt.
func TestSnoozedJobRunsAgain(t *testing.T) {
	h := &snoozer{recorder: newRecorder()}
	q := open(t, Config{SQLitePath: filepath.Join(t.TempDir(), "stagebot.db")}, h)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer stop(t, q)
	if _, _, err := q.Enqueue(context.Background(), prJob("d-snooze")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the snoozed job's second run", func() bool { return h.count("d-snooze") == 1 })
	if n := h.tries.Load(); n != 2 {
		t.Errorf("the job ran %d times, want 2", n)
	}
	if d, ok := Snoozed(fmt.Errorf("x: %w", Snooze(time.Minute))); !ok || d != time.Minute {
		t.Errorf("snoozed = %s, %v", d, ok)
	}
	if _, ok := Snoozed(errors.New("GitHub answered 502")); ok {
		t.Error("a failure reads as a snooze")
	}
}
