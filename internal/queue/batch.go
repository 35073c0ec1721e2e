package queue

import (
	"context"
	"errors"
	"time"

	"github.com/riverqueue/river"
)

// maxBatch bounds how many jobs share one transaction.
const maxBatch = 64

// errClosed is returned by Enqueue after Close.
var errClosed = errors.New("queue is closed")

type insertReq struct {
	args river.JobArgs
	key  string
	res  chan insertRes
}

type insertRes struct {
	id        int64
	duplicate bool
	err       error
}

// batchInserts commits concurrent Enqueue calls together (group commit):
// while one transaction commits, the next requests gather, and they are
// inserted in one transaction. A lone request waits for nobody, so this adds
// no latency when the bot is idle and amortises each transaction's cost when
// many deliveries arrive at once; on SQLite, where one connection does all
// writing, that is what keeps the webhook's latency flat under load.
func (q *Queue) batchInserts() {
	defer close(q.batcherDone)
	batch := make([]insertReq, 0, maxBatch)
	for {
		select {
		case <-q.closing:
			return
		case first := <-q.reqs:
			batch = append(batch[:0], first)
		fill:
			for len(batch) < maxBatch {
				select {
				case r := <-q.reqs:
					batch = append(batch, r)
				default:
					break fill
				}
			}
			q.flush(batch)
		}
	}
}

func (q *Queue) flush(batch []insertReq) {
	// The inserts finish even if a caller gave up: each was answered 202
	// or will be, and must not be lost half-way.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A delivery twice in one batch is inserted once; the second copy is
	// the duplicate it would have been one batch later.
	first := map[string]int{}
	var params []river.InsertManyParams
	var owner []int // batch index -> params index
	for i, r := range batch {
		if j, seen := first[r.key]; seen {
			owner = append(owner, -1-j)
			continue
		}
		first[r.key] = i
		owner = append(owner, len(params))
		params = append(params, river.InsertManyParams{Args: r.args, InsertOpts: uniqueByDelivery})
	}
	results, err := q.insertMany(ctx, params)
	if err != nil {
		// One bad job must not fail its neighbours: insert one by one.
		for _, r := range batch {
			id, dup, err := q.insert(ctx, r.args)
			r.res <- insertRes{id: id, duplicate: dup, err: err}
		}
		return
	}
	for i, r := range batch {
		if owner[i] < 0 {
			res := results[owner[-1-owner[i]]]
			r.res <- insertRes{id: res.Job.ID, duplicate: true}
			continue
		}
		res := results[owner[i]]
		r.res <- insertRes{id: res.Job.ID, duplicate: res.UniqueSkippedAsDuplicate}
	}
}

// uniqueByDelivery makes a job unique by its args' `river:"unique"` fields:
// the delivery id.
var uniqueByDelivery = &river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true}}
