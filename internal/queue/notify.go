package queue

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/stagebot/stagebot/internal/jobs"
)

const (
	// notifyRetryCap is the longest wait between a notification's tries.
	notifyRetryCap = 10 * time.Minute
	// notifyTimeout bounds one try: a delivery is one POST (itself
	// bounded by notify.SendTimeout).
	notifyTimeout = 30 * time.Second
	// notifyWorkers is how many notifications are sent at once.
	notifyWorkers = 4
)

// errNoNotify is a notification's error in a bot without notifications:
// it stays queued, tried again, for a replica that has them.
var errNoNotify = errors.New("notify: this bot has no notifications file (STAGEBOT_NOTIFICATIONS_FILE)")

// notifyWorker sends notifications with the backoff a webhook's outage
// wants: from RetryWait, doubling, at most notifyRetryCap apart, rather
// than River's default (attempt⁴ seconds), which waits days by the
// twentieth try.
type notifyWorker struct {
	*worker[jobs.NotifyJob]
	retryWait time.Duration
}

func newNotifyWorker(m *metrics, l *slog.Logger, send func(context.Context, jobs.NotifyJob) error, retryWait time.Duration) *notifyWorker {
	if send == nil {
		send = func(context.Context, jobs.NotifyJob) error { return errNoNotify }
	}
	if retryWait <= 0 {
		retryWait = time.Second
	}
	return &notifyWorker{worker: newWorker(m, l, notifyTimeout, send), retryWait: retryWait}
}

// NextRetry is when a notification that failed its attempt-th try is
// tried again.
func (w *notifyWorker) NextRetry(job *river.Job[jobs.NotifyJob]) time.Time {
	return time.Now().Add(notifyBackoff(w.retryWait, job.Attempt))
}

// notifyBackoff is the wait after the attempt-th failed try: base, then
// twice as long each time, at most notifyRetryCap.
func notifyBackoff(base time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < notifyRetryCap; i++ {
		d *= 2
	}
	return min(d, notifyRetryCap)
}
