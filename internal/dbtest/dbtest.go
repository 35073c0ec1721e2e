// Package dbtest gives tests real databases: a PostgreSQL database of its
// own on the server scripts/test starts.
package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

var seq atomic.Int64

// FreshPostgres creates an empty database on the server named by
// STAGEBOT_TEST_DATABASE_URL and returns its URL; it is dropped after t.
func FreshPostgres(t testing.TB) string {
	t.Helper()
	admin := os.Getenv("STAGEBOT_TEST_DATABASE_URL")
	if admin == "" {
		t.Fatal("STAGEBOT_TEST_DATABASE_URL is not set: run the tests with scripts/test, which starts PostgreSQL")
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connect to test PostgreSQL: %v", err)
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("stagebot_test_%d_%d_%d", os.Getpid(), time.Now().UnixNano(), seq.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			c.Exec(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)")
			c.Close(context.Background())
		}
	})
	u, _ := url.Parse(admin)
	u.Path = "/" + name
	return u.String()
}
