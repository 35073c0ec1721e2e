package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"
)

// ReplayWindow is how long the signature of an accepted delivery is kept:
// past GitHub's 3-day redelivery window, and as long as the queue keeps
// the jobs that dedupe deliveries by id.
const ReplayWindow = 7 * 24 * time.Hour

// replaysTable maps the digest of each accepted delivery's signature to
// the delivery that brought it. Shared by every replica on one PostgreSQL,
// so a body replayed to any of them is known.
const replaysTable = `CREATE TABLE IF NOT EXISTS stagebot_webhook_signatures (
	digest TEXT PRIMARY KEY,
	delivery TEXT NOT NULL,
	accepted_at TIMESTAMP NOT NULL
)`

const replaysIndex = `CREATE INDEX IF NOT EXISTS stagebot_webhook_signatures_at ON stagebot_webhook_signatures (accepted_at)`

// pruneEvery bounds how often Accept deletes expired signatures.
const pruneEvery = time.Hour

// Replays remembers which delivery first brought each signed body, to tell
// GitHub's redeliveries (same delivery id) from replays (another id).
type Replays struct {
	db *sql.DB

	mu        sync.Mutex
	ready     bool      // the table is known to exist
	nextPrune time.Time // zero: prune on the first Accept
}

// NewReplays keeps signatures in db. The table is created on first use
// when store.Open has not made it.
func NewReplays(db *sql.DB) *Replays { return &Replays{db: db} }

// Replays returns the store's record of accepted signatures.
func (s *Store) Replays() *Replays { return &Replays{db: s.db, ready: true} }

// Accept records that a body whose signature hashes to digest arrived as
// delivery at at. It returns the delivery that first brought that body
// within ReplayWindow: delivery itself, unless this is a replay.
func (r *Replays) Accept(ctx context.Context, digest, delivery string, at time.Time) (string, error) {
	if err := r.maintain(ctx, at); err != nil {
		return "", err
	}
	// One statement, so concurrent deliveries of one body (on any replica)
	// agree on which came first. An expired row is taken over, as if
	// pruned; a live one is returned unchanged.
	var first string
	err := r.db.QueryRowContext(ctx,
		`INSERT INTO stagebot_webhook_signatures (digest, delivery, accepted_at) VALUES ($1, $2, $3)
		 ON CONFLICT (digest) DO UPDATE SET
		   delivery = CASE WHEN stagebot_webhook_signatures.accepted_at < $4 THEN excluded.delivery ELSE stagebot_webhook_signatures.delivery END,
		   accepted_at = CASE WHEN stagebot_webhook_signatures.accepted_at < $4 THEN excluded.accepted_at ELSE stagebot_webhook_signatures.accepted_at END
		 RETURNING delivery`,
		digest, delivery, at.UTC(), at.Add(-ReplayWindow).UTC()).Scan(&first)
	if err != nil {
		return "", fmt.Errorf("record the signature of delivery %s: %w", delivery, err)
	}
	return first, nil
}

// maintain creates the table once and, at most every pruneEvery, deletes
// the signatures older than ReplayWindow, so the table holds about a
// window's deliveries without a job of its own.
func (r *Replays) maintain(ctx context.Context, at time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.ready {
		for _, stmt := range []string{replaysTable, replaysIndex} {
			if _, err := r.db.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create the webhook signatures table: %w", err)
			}
		}
		r.ready = true
	}
	if at.Before(r.nextPrune) {
		return nil
	}
	if _, err := r.db.ExecContext(ctx, `DELETE FROM stagebot_webhook_signatures WHERE accepted_at < $1`, at.Add(-ReplayWindow).UTC()); err != nil {
		return fmt.Errorf("prune webhook signatures: %w", err)
	}
	r.nextPrune = at.Add(pruneEvery)
	return nil
}
