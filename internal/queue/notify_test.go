package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/notify"
)

// A notification waits twice as long after each failed try, at most ten
// minutes: the default 24 tries span about two and a half hours.
func TestNotifyBackoff(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		base    time.Duration
		attempt int
		want    time.Duration
	}{
		{time.Second, 1, time.Second},
		{time.Second, 2, 2 * time.Second},
		{time.Second, 10, 512 * time.Second},
		{time.Second, 11, 10 * time.Minute},
		{time.Second, 23, 10 * time.Minute},
		{time.Second, 1000, 10 * time.Minute},
		{20 * time.Millisecond, 3, 80 * time.Millisecond},
		{time.Hour, 1, 10 * time.Minute},
	} {
		if got := notifyBackoff(tc.base, tc.attempt); got != tc.want {
			t.Errorf("backoff(%s, %d) = %s, want %s", tc.base, tc.attempt, got, tc.want)
		}
	}
	var total time.Duration
	for attempt := 1; attempt < jobs.NotifyMaxAttempts; attempt++ {
		total += notifyBackoff(time.Second, attempt)
	}
	if total < 2*time.Hour || total > 3*time.Hour {
		t.Errorf("%d tries span %s, want about two and a half hours", jobs.NotifyMaxAttempts, total)
	}
}

// A bot without notifications fails a notification job, saying why, and
// leaves it to be tried again (by a replica that has them); it runs in the
// queue of notifications, with their attempts.
func TestNotifyWithoutSender(t *testing.T) {
	t.Parallel()
	q := open(t, Config{SQLitePath: filepath.Join(t.TempDir(), "stagebot.db"), NotifyRetryWait: time.Hour}, newRecorder())
	defer stop(t, q)
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	ev := notify.Event{ID: "ev-1", Kind: notify.DriftFound, Repo: "acme/platform"}
	if _, _, err := q.Enqueue(context.Background(), jobs.NotifyJob{Target: "ops", Event: ev}); err != nil {
		t.Fatal(err)
	}
	// The same event for another target is another job; for the same
	// target, a duplicate.
	if _, dup, err := q.Enqueue(context.Background(), jobs.NotifyJob{Target: "audit", Event: ev}); err != nil || dup {
		t.Fatalf("another target: duplicate %v, %v", dup, err)
	}
	if _, dup, err := q.Enqueue(context.Background(), jobs.NotifyJob{Target: "ops", Event: ev}); err != nil || !dup {
		t.Fatalf("same target: duplicate %v, %v", dup, err)
	}
	var state, queue, errs string
	var maxAttempts int
	waitFor(t, "the notification to fail", func() bool {
		err := q.DB().QueryRow(`SELECT state, queue, max_attempts, coalesce(errors, '') FROM river_job WHERE kind = 'notify' AND json_extract(args, '$.target') = 'ops'`).Scan(&state, &queue, &maxAttempts, &errs)
		return err == nil && state == "retryable"
	})
	if !strings.Contains(errs, "no notifications file") || queue != jobs.NotifyQueue || maxAttempts != jobs.NotifyMaxAttempts {
		t.Errorf("queue %s, max attempts %d, errors %s", queue, maxAttempts, errs)
	}
}
