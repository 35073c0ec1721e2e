package queue

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/disktest"
)

// Readiness tells the truth about a full disk: a SQLite queue on a disk
// with no room for a delivery is not ready (its database still answers
// reads), and is again once the room is back, by itself.
func TestNotReadyOnAFullDisk(t *testing.T) {
	dir := disktest.Mount(t, "96m")
	q := open(t, Config{SQLitePath: filepath.Join(dir, "stagebot.db"), NoWork: true}, nil)
	defer q.Close()
	ctx := context.Background()
	if err := q.Ping(ctx); err != nil {
		t.Fatalf("an empty disk: %v", err)
	}
	// The disk fills up (Terraform's working files, logs).
	free := disktest.Fill(t, dir)
	time.Sleep(readyFor) // the last check stands that long
	err := q.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "disk of the database is full") {
		t.Fatalf("a full disk: %v", err)
	}
	free()
	if err := q.Ping(ctx); err != nil {
		t.Fatalf("the disk freed: %v", err)
	}
}

// Readiness writes: a database that takes no write is not ready.
func TestNotReadyWhenTheDatabaseTakesNoWrite(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			q := open(t, b.cfg(t), nil)
			defer q.Close()
			ctx := context.Background()
			if err := q.Ping(ctx); err != nil {
				t.Fatal(err)
			}
			time.Sleep(readyFor)
			if _, err := q.db.ExecContext(ctx, `DROP TABLE stagebot_ready`); err != nil {
				t.Fatal(err)
			}
			// A table that refuses writes stands for a database that does.
			if _, err := q.db.ExecContext(ctx, `CREATE TABLE stagebot_ready (id INTEGER PRIMARY KEY, checked_at TEXT NOT NULL CHECK (checked_at = 'never'))`); err != nil {
				t.Fatal(err)
			}
			if err := q.Ping(ctx); err == nil || !strings.Contains(err.Error(), "write to the database") {
				t.Fatalf("a database that takes no write: %v", err)
			}
		})
	}
}
