package notify

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stagebot/stagebot/internal/redact"
)

// Enqueue queues the delivery of ev to the target named target (a
// jobs.NotifyJob: package jobs holds the Event, so it cannot be named here).
type Enqueue func(ctx context.Context, target string, ev Event) error

// Notifier turns events into queued deliveries, one per target that wants
// the event. A nil *Notifier sends nothing: the bot without a
// notifications file.
type Notifier struct {
	targets []Target
	secrets *redact.Set
	enqueue Enqueue
}

// NewNotifier returns the notifier of cfg: events are redacted with
// secrets (the set is read at each event, so values added later count)
// and queued with enqueue. A nil cfg gives a nil Notifier.
func NewNotifier(cfg *Config, secrets *redact.Set, enqueue Enqueue) *Notifier {
	if cfg == nil || len(cfg.Targets) == 0 {
		return nil
	}
	return &Notifier{targets: cfg.Targets, secrets: secrets, enqueue: enqueue}
}

// Notify queues ev for every target that wants it: its time is now when
// unset, its text is redacted, its summary bounded, its ID derived when
// unset. It returns once the deliveries are queued; sending is the
// queue's.
func (n *Notifier) Notify(ctx context.Context, ev Event) error {
	if n == nil {
		return nil
	}
	if !ev.Kind.Known() {
		return fmt.Errorf("notify: unknown event kind %q", ev.Kind)
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	ev.Time = ev.Time.UTC()
	var targets []string
	for _, t := range n.targets {
		// Filters see the repository as it is, before redaction.
		if t.Wants(ev) {
			targets = append(targets, t.Name)
		}
	}
	if len(targets) == 0 {
		return nil
	}
	ev = ev.Redacted(n.secrets).bounded()
	if ev.ID == "" {
		ev.ID = DeriveID(ev)
	}
	var errs []error
	for _, name := range targets {
		if err := n.enqueue(ctx, name, ev); err != nil {
			errs = append(errs, fmt.Errorf("queue %s notification %s for %s: %w", ev.Kind, ev.ID, name, err))
		}
	}
	return errors.Join(errs...)
}

// Targets are the names of the targets, in the file's order.
func (n *Notifier) Targets() []string {
	if n == nil {
		return nil
	}
	out := make([]string, len(n.targets))
	for i, t := range n.targets {
		out[i] = t.Name
	}
	return out
}
