package queue

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Readiness tells the truth about a full disk: a SQLite queue on a disk
// with no room for a delivery is not ready (its database still answers
// reads), and is again once the room is back, by itself.
func TestNotReadyOnAFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test mounts a small tmpfs as the full disk: run it as root (scripts/test in CI is)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=96m"); err != nil {
		t.Fatalf("mount a tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	q := open(t, Config{SQLitePath: filepath.Join(dir, "stagebot.db"), NoWork: true}, nil)
	defer q.Close()
	ctx := context.Background()
	if err := q.Ping(ctx); err != nil {
		t.Fatalf("an empty disk: %v", err)
	}
	// The disk fills up (Terraform's working files, logs).
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for {
		if _, err := f.Write(buf); err != nil {
			break
		}
	}
	f.Close()
	time.Sleep(readyFor) // the last check stands that long
	err = q.Ping(ctx)
	if err == nil || !strings.Contains(err.Error(), "disk of the database is full") {
		t.Fatalf("a full disk: %v", err)
	}
	os.Remove(filler)
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
