package queue

import (
	"context"
	"fmt"
	"syscall"
	"time"
)

// Readiness is whether the queue can take a job now, not only whether the
// database answers: a database that answers reads but takes no write (a
// full disk under SQLite, a read-only or recovering PostgreSQL) queues
// nothing.

// minFreeBytes is the free space a SQLite queue needs to take GitHub's
// largest delivery (25 MB) with room for its journal.
const minFreeBytes = 64 << 20

// readyTable is made when the queue opens; each check writes its one row.
const readyTable = `CREATE TABLE IF NOT EXISTS stagebot_ready (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL)`

// readyFor is how long a successful readiness check stands: a flood of
// /readyz requests costs one database write a second, not one each.
const readyFor = time.Second

// ready pings the database, writes to it, and (SQLite) checks that the
// disk under it has room for a delivery.
func (q *Queue) ready(ctx context.Context) error {
	if last := q.readyAt.Load(); last != nil && time.Since(*last) < readyFor {
		return nil
	}
	if err := q.probe(ctx); err != nil {
		return err
	}
	now := time.Now()
	q.readyAt.Store(&now)
	return nil
}

func (q *Queue) probe(ctx context.Context) error {
	if err := q.ping(ctx); err != nil {
		return err
	}
	if q.sqliteDir != "" {
		var fs syscall.Statfs_t
		if err := syscall.Statfs(q.sqliteDir, &fs); err != nil {
			return fmt.Errorf("disk of the database: %w", err)
		}
		if free := int64(fs.Bavail) * int64(fs.Bsize); free < minFreeBytes {
			return fmt.Errorf("disk of the database is full: %d MiB free, a delivery needs %d", free>>20, minFreeBytes>>20)
		}
	}
	if _, err := q.db.ExecContext(ctx, `INSERT INTO stagebot_ready (id, checked_at) VALUES (1, $1) ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at`,
		time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("write to the database: %w", err)
	}
	return nil
}
