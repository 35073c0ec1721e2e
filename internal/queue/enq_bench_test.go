package queue

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// BenchmarkEnqueueSQLite measures durable inserts on SQLite from 8
// concurrent callers, as concurrent webhook deliveries make them.
func BenchmarkEnqueueSQLite(b *testing.B) {
	q, err := Open(context.Background(), Config{SQLitePath: filepath.Join(b.TempDir(), "x.db"), NoWork: true})
	if err != nil {
		b.Fatal(err)
	}
	defer q.Close()
	b.SetParallelism(4) // 4 x GOMAXPROCS(2) = 8 callers
	var n int64
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := atomicAdd(&n)
			if _, _, err := q.Enqueue(context.Background(), prJob(fmt.Sprintf("b-%d", i))); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func atomicAdd(p *int64) int64 { return atomic.AddInt64(p, 1) }
