package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
)

// accepter is r.Accept that fails the test on an error.
func accepter(t *testing.T, r *Replays) func(digest, delivery string, at time.Time) string {
	return func(digest, delivery string, at time.Time) string {
		t.Helper()
		first, err := r.Accept(context.Background(), digest, delivery, at)
		if err != nil {
			t.Fatal(err)
		}
		return first
	}
}

func TestReplays(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r := s.Replays()
			now := time.Now()
			accept := accepter(t, r)
			tests := []struct {
				name, digest, delivery string
				at                     time.Time
				want                   string
			}{
				{"first delivery", "aa", "d1", now, "d1"},
				{"GitHub's redelivery", "aa", "d1", now.Add(time.Hour), "d1"},
				{"replay under another id", "aa", "d2", now.Add(2 * time.Hour), "d1"},
				{"another body", "bb", "d2", now.Add(2 * time.Hour), "d2"},
				{"replay a day before the window ends", "aa", "d3", now.Add(6 * 24 * time.Hour), "d1"},
				{"the same body after the window", "aa", "d4", now.Add(ReplayWindow + time.Minute), "d4"},
				{"and a replay of that", "aa", "d5", now.Add(ReplayWindow + time.Hour), "d4"},
			}
			for _, tt := range tests {
				if got := accept(tt.digest, tt.delivery, tt.at); got != tt.want {
					t.Errorf("%s: first delivery = %q, want %q", tt.name, got, tt.want)
				}
			}
		})
	}
}

// Signatures older than the window are deleted by a later Accept, at most
// once per pruneEvery; until then an expired one is taken over.
func TestReplaysPruned(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			r := s.Replays()
			accept := accepter(t, r)
			t0 := time.Now().Add(-8 * 24 * time.Hour)
			for i := range 3 {
				accept(fmt.Sprint("old-", i), fmt.Sprint("d-old-", i), t0.Add(time.Duration(i)*30*time.Minute))
			}
			now := t0.Add(ReplayWindow + 45*time.Minute) // old-0 and old-1 expired
			accept("new", "d-new", now)
			if got := signatures(t, s.db); got != 2 {
				t.Errorf("%d signatures kept, want 2 (old-2 and new)", got)
			}
			// Before the next prune: old-2 has expired but is still there.
			if got := accept("old-2", "d-again", now.Add(20*time.Minute)); got != "d-again" {
				t.Errorf("an expired body delivered again: first = %q, want d-again", got)
			}
			if got := accept("new", "d-other", now.Add(20*time.Minute)); got != "d-new" {
				t.Errorf("a replay: first = %q, want d-new", got)
			}
		})
	}
}

// Concurrent deliveries of one body under different ids, as replicas
// sharing PostgreSQL see them: exactly one is the first. (On SQLite one
// bot writes through one connection: nothing runs concurrently.)
func TestReplaysConcurrent(t *testing.T) {
	db, err := sql.Open("pgx", dbtest.FreshPostgres(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	firsts := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A Replays each, as each replica has its own.
			first, err := s.Replays().Accept(context.Background(), "same", fmt.Sprint("d-", i), time.Now())
			if err != nil {
				t.Error(err)
			}
			firsts[i] = first
		}()
	}
	wg.Wait()
	owners := 0
	for i, f := range firsts {
		if f != firsts[0] {
			t.Fatalf("deliveries disagree on the first: %q and %q", firsts[0], f)
		}
		if f == fmt.Sprint("d-", i) {
			owners++
		}
	}
	if owners != 1 {
		t.Errorf("%d deliveries were told they came first, want 1", owners)
	}
}

// A Replays on a database store.Open has not prepared makes its table.
func TestReplaysMakeTheirTable(t *testing.T) {
	for name, open := range map[string]func() (*sql.DB, error){
		"sqlite":   func() (*sql.DB, error) { return sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db")) },
		"postgres": func() (*sql.DB, error) { return sql.Open("pgx", dbtest.FreshPostgres(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			db, err := open()
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if first, err := NewReplays(db).Accept(context.Background(), "aa", "d1", time.Now()); err != nil || first != "d1" {
				t.Fatalf("first = %q, err = %v", first, err)
			}
		})
	}
}

func signatures(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM stagebot_webhook_signatures`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
