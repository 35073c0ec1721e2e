package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

// recorder handles jobs by counting them per delivery; fail makes the first
// attempts of a delivery fail.
type recorder struct {
	mu    sync.Mutex
	runs  map[string]int
	fails map[string]int
}

func newRecorder() *recorder { return &recorder{runs: map[string]int{}, fails: map[string]int{}} }

func (r *recorder) record(delivery string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.runs[delivery]++
	if r.fails[delivery] > 0 {
		r.fails[delivery]--
		return errors.New("GitHub answered 502")
	}
	return nil
}

func (r *recorder) count(delivery string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[delivery]
}

func (r *recorder) PullRequest(_ context.Context, j jobs.PullRequestJob) error {
	return r.record(j.DeliveryID)
}
func (r *recorder) Comment(_ context.Context, j jobs.CommentJob) error { return r.record(j.DeliveryID) }
func (r *recorder) Push(_ context.Context, j jobs.PushJob) error       { return r.record(j.DeliveryID) }
func (r *recorder) CheckRun(_ context.Context, j jobs.CheckRunJob) error {
	return r.record(j.DeliveryID)
}
func (r *recorder) Drift(_ context.Context, j jobs.DriftJob) error { return r.record(j.DeliveryID) }
func (r *recorder) DriftTick(_ context.Context, j jobs.DriftTickJob) error {
	return r.record("tick")
}
func (r *recorder) Maintenance(_ context.Context, j jobs.MaintenanceJob) error {
	return r.record("maintenance")
}

func prJob(delivery string) jobs.PullRequestJob {
	return jobs.PullRequestJob{DeliveryID: delivery, Event: webhook.PullRequestEvent{
		InstallationID: 1, Repo: webhook.Repo{Owner: "acme", Name: "platform"}, Action: "opened", Number: 1, HeadSHA: "abc",
	}}
}

// backend opens queues on one database: SQLite in a temp dir, or a fresh
// PostgreSQL database.
type backend struct {
	name string
	cfg  func(t *testing.T) Config
}

func backends(t *testing.T) []backend {
	return []backend{
		{"sqlite", func(t *testing.T) Config {
			return Config{SQLitePath: filepath.Join(t.TempDir(), "stagebot.db")}
		}},
		{"postgres", func(t *testing.T) Config {
			return Config{DatabaseURL: dbtest.FreshPostgres(t)}
		}},
	}
}

func open(t *testing.T, cfg Config, h Handlers) *Queue {
	t.Helper()
	cfg.Handlers = h
	cfg.Workers = 4
	cfg.JobTimeout = time.Minute
	cfg.Logger = slog.New(slog.DiscardHandler)
	q, err := Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func stop(t *testing.T, q *Queue) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	q.Close()
}

func TestEachDeliveryRunsOnce(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rec := newRecorder()
			q := open(t, b.cfg(t), rec)
			ctx := context.Background()
			const n = 50
			for i := range n {
				id, dup, err := q.Enqueue(ctx, prJob(fmt.Sprintf("d-%d", i)))
				if err != nil || dup || id == 0 {
					t.Fatalf("enqueue %d: id %d dup %v err %v", i, id, dup, err)
				}
			}
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			// GitHub redelivers: while queued, running and after done.
			for i := range n {
				_, dup, err := q.Enqueue(ctx, prJob(fmt.Sprintf("d-%d", i)))
				if err != nil || !dup {
					t.Fatalf("redelivery %d: dup %v err %v", i, dup, err)
				}
			}
			waitFor(t, "all jobs", func() bool {
				for i := range n {
					if rec.count(fmt.Sprintf("d-%d", i)) == 0 {
						return false
					}
				}
				return true
			})
			if _, dup, _ := q.Enqueue(ctx, prJob("d-0")); !dup {
				t.Error("redelivery after the job completed made a new job")
			}
			time.Sleep(200 * time.Millisecond)
			stop(t, q)
			for i := range n {
				if c := rec.count(fmt.Sprintf("d-%d", i)); c != 1 {
					t.Errorf("delivery d-%d ran %d times", i, c)
				}
			}
		})
	}
}

func TestJobsSurviveRestart(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			cfg := b.cfg(t)
			ctx := context.Background()
			// A bot that takes deliveries and stops before working them.
			first := open(t, Config{DatabaseURL: cfg.DatabaseURL, SQLitePath: cfg.SQLitePath, NoWork: true}, nil)
			for i := range 10 {
				if _, _, err := first.Enqueue(ctx, prJob(fmt.Sprintf("r-%d", i))); err != nil {
					t.Fatal(err)
				}
			}
			first.Close()

			rec := newRecorder()
			second := open(t, cfg, rec)
			if err := second.Start(ctx); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "jobs from before the restart", func() bool {
				for i := range 10 {
					if rec.count(fmt.Sprintf("r-%d", i)) != 1 {
						return false
					}
				}
				return true
			})
			stop(t, second)
		})
	}
}

func TestFailedJobIsRetried(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rec := newRecorder()
			rec.fails["f-1"] = 1
			q := open(t, b.cfg(t), rec)
			ctx := context.Background()
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			if _, _, err := q.Enqueue(ctx, prJob("f-1")); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the retry", func() bool { return rec.count("f-1") == 2 })
			stop(t, q)
		})
	}
}

// Two replicas sharing one PostgreSQL queue run each job once between them.
func TestReplicasShareOnePostgresQueue(t *testing.T) {
	url := dbtest.FreshPostgres(t)
	rec := newRecorder()
	a := open(t, Config{DatabaseURL: url}, rec)
	b := open(t, Config{DatabaseURL: url}, rec)
	ctx := context.Background()
	for _, q := range []*Queue{a, b} {
		if err := q.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100
	for i := range n {
		q := a
		if i%2 == 1 {
			q = b
		}
		if _, _, err := q.Enqueue(ctx, prJob(fmt.Sprintf("p-%d", i))); err != nil {
			t.Fatal(err)
		}
		// The same delivery reaching the other replica is a duplicate.
		other := map[*Queue]*Queue{a: b, b: a}[q]
		if _, dup, err := other.Enqueue(ctx, prJob(fmt.Sprintf("p-%d", i))); err != nil || !dup {
			t.Fatalf("delivery p-%d on the other replica: dup %v err %v", i, dup, err)
		}
	}
	waitFor(t, "all jobs", func() bool {
		for i := range n {
			if rec.count(fmt.Sprintf("p-%d", i)) == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(200 * time.Millisecond)
	stop(t, a)
	stop(t, b)
	for i := range n {
		if c := rec.count(fmt.Sprintf("p-%d", i)); c != 1 {
			t.Errorf("p-%d ran %d times", i, c)
		}
	}
}

func TestPostgresURLNeverInErrors(t *testing.T) {
	_, err := Open(context.Background(), Config{DatabaseURL: "postgres://stagebot:hunter2@127.0.0.1:1/x?connect_timeout=2", Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		t.Fatal("opened a queue on a closed port")
	}
	if strings.Contains(err.Error(), "hunter2") {
		t.Errorf("error shows the password: %v", err)
	}
}

// Redeliveries racing each other (they can land in one insert batch) still
// make one job.
func TestConcurrentRedeliveriesMakeOneJob(t *testing.T) {
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			rec := newRecorder()
			q := open(t, b.cfg(t), rec)
			ctx := context.Background()
			if err := q.Start(ctx); err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var mu sync.Mutex
			ids := map[string]map[int64]bool{}
			for i := range 200 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d := fmt.Sprintf("c-%d", i%20)
					id, _, err := q.Enqueue(ctx, prJob(d))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if ids[d] == nil {
						ids[d] = map[int64]bool{}
					}
					ids[d][id] = true
					mu.Unlock()
				}()
			}
			wg.Wait()
			waitFor(t, "all jobs", func() bool {
				for i := range 20 {
					if rec.count(fmt.Sprintf("c-%d", i)) == 0 {
						return false
					}
				}
				return true
			})
			time.Sleep(200 * time.Millisecond)
			stop(t, q)
			for i := range 20 {
				d := fmt.Sprintf("c-%d", i)
				if c := rec.count(d); c != 1 {
					t.Errorf("%s ran %d times", d, c)
				}
				if len(ids[d]) != 1 {
					t.Errorf("%s was given job ids %v, want one", d, ids[d])
				}
			}
		})
	}
}
