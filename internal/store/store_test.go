package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/stagebot/stagebot/internal/dbtest"
)

func stores(t *testing.T) map[string]*Store {
	out := map[string]*Store{}
	for name, open := range map[string]func() (*sql.DB, error){
		"sqlite":   func() (*sql.DB, error) { return sql.Open("sqlite", filepath.Join(t.TempDir(), "s.db")) },
		"postgres": func() (*sql.DB, error) { return sql.Open("pgx", dbtest.FreshPostgres(t)) },
	} {
		db, err := open()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := Open(context.Background(), db)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = s
	}
	return out
}

func TestLocks(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if err := s.Lock(ctx, "acme/p", "platform", 12, "a"); err != nil {
				t.Fatal(err)
			}
			if err := s.Lock(ctx, "acme/p", "platform", 12, "b"); err != nil {
				t.Errorf("the owner locking again: %v", err)
			}
			var le *LockedError
			if err := s.Lock(ctx, "acme/p", "platform", 13, "c"); !errors.As(err, &le) || le.PR != 12 {
				t.Errorf("another PR: err = %v, want locked by #12", err)
			}
			if err := s.Lock(ctx, "acme/other", "platform", 13, "c"); err != nil {
				t.Errorf("same stage name in another repo: %v", err)
			}
			if got, _ := s.Unlock(ctx, "acme/p", 13); len(got) != 0 {
				t.Errorf("#13 released %v it did not hold", got)
			}
			if got, _ := s.Unlock(ctx, "acme/p", 12, "platform"); len(got) != 1 {
				t.Errorf("released %v", got)
			}
			if owner, _ := s.LockOwner(ctx, "acme/p", "platform"); owner != 0 {
				t.Errorf("owner after unlock = %d", owner)
			}
		})
	}
}

func TestApplies(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			if _, ok, err := s.LastApply(ctx, "acme/p", "tenant"); ok || err != nil {
				t.Fatalf("no apply yet: ok %v err %v", ok, err)
			}
			t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			s.RecordApply(ctx, "acme/p", "tenant", 3, "aaa", t0)
			s.RecordApply(ctx, "acme/p", "tenant", 4, "bbb", t0.Add(30*time.Second))
			a, ok, err := s.LastApply(ctx, "acme/p", "tenant")
			if err != nil || !ok || a.PR != 4 || a.HeadSHA != "bbb" || !a.At.Equal(t0.Add(30*time.Second).UTC()) {
				t.Errorf("last apply = %+v ok %v err %v", a, ok, err)
			}
		})
	}
}

func TestPRLeases(t *testing.T) {
	for name, s := range stores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			take := func(holder string, ttl time.Duration) bool {
				ok, err := s.TakePR(ctx, "acme/p", 7, holder, ttl)
				if err != nil {
					t.Fatal(err)
				}
				return ok
			}
			if !take("a", time.Minute) {
				t.Fatal("a could not take a free PR")
			}
			if take("b", time.Minute) {
				t.Fatal("b took a PR a holds")
			}
			if !take("a", time.Minute) {
				t.Fatal("a could not renew its lease")
			}
			if err := s.ReleasePR(ctx, "acme/p", 7, "b"); err != nil {
				t.Fatal(err)
			}
			if take("b", time.Minute) {
				t.Fatal("b released a's lease")
			}
			s.ReleasePR(ctx, "acme/p", 7, "a")
			if !take("b", 50*time.Millisecond) {
				t.Fatal("b could not take a released PR")
			}
			time.Sleep(100 * time.Millisecond)
			if !take("c", time.Minute) {
				t.Fatal("c could not take over an expired lease")
			}
		})
	}
}
