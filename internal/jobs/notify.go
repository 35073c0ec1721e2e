package jobs

import (
	"github.com/riverqueue/river"

	"github.com/stagebot/stagebot/internal/notify"
)

// NotifyQueue is the queue notifications run in, with workers of their
// own: a target that is slow or down never waits behind an apply, nor
// holds one up.
const NotifyQueue = "notify"

// NotifyMaxAttempts is how often a notification is tried before it is
// given up: with the queue's backoff (doubling from a second, at most ten
// minutes apart) about two and a half hours of a target being down.
const NotifyMaxAttempts = 24

// NotifyJob delivers one event to one notification target. The event's ID
// and the target are its unique key (the event's field is tagged): queued
// again, it is a duplicate, and sent once.
type NotifyJob struct {
	Target string       `json:"target" river:"unique"`
	Event  notify.Event `json:"event"`
}

// Kind is River's job kind.
func (NotifyJob) Kind() string { return "notify" }

// Delivery is the job's key: the event's id and the target.
func (j NotifyJob) Delivery() string { return j.Event.ID + "/" + j.Target }

// LogAttrs are the attributes every log line of the job carries: never
// the target's URL nor the event's text.
func (j NotifyJob) LogAttrs() []any {
	return []any{"delivery", j.Event.ID, "repo", j.Event.Repo, "target", j.Target, "event", string(j.Event.Kind)}
}

// RepoName is the repository's owner/name.
func (j NotifyJob) RepoName() string { return j.Event.Repo }

// InsertOpts puts notifications in their own queue, with the attempts a
// webhook's outage needs.
func (NotifyJob) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: NotifyQueue, MaxAttempts: NotifyMaxAttempts}
}
