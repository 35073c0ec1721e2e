package workflow

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"sync"
	"time"

	gh "github.com/stagebot/stagebot/internal/github"
)

// A PR's turn: work on one PR runs one job at a time, in this process and,
// on PostgreSQL, across replicas.

// prRuns serialises the work on one PR and lets a newer event cancel what an
// older one still runs (a push while a plan runs).
type prRuns struct {
	mu   sync.Mutex
	runs map[string]*prRun
}

type prRun struct {
	lock   chan struct{} // holds one token: the PR's turn
	cancel context.CancelFunc
	users  int // begin calls holding or waiting for the turn
}

// get returns the PR's entry, counting one more user of it; put ends that
// use, and drops the entry once nobody uses it, so the map holds only PRs
// with work running or waiting.
func (p *prRuns) get(key string) *prRun {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.runs == nil {
		p.runs = map[string]*prRun{}
	}
	r, ok := p.runs[key]
	if !ok {
		r = &prRun{lock: make(chan struct{}, 1)}
		p.runs[key] = r
	}
	r.users++
	return r
}

func (p *prRuns) put(key string, r *prRun) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if r.users--; r.users == 0 {
		delete(p.runs, key)
	}
}

// size is how many PRs have work running or waiting.
func (p *prRuns) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.runs)
}

// begin waits for the PR's turn and returns a context for the work; done
// ends the turn. With supersede, it first cancels the PR's running work if
// that work may be cancelled (a plan of an older head); cancellable says
// whether this work may be cancelled in turn. An apply never is.
func (p *prRuns) begin(ctx context.Context, key string, supersede, cancellable bool) (context.Context, func()) {
	r := p.get(key)
	if supersede {
		p.mu.Lock()
		if r.cancel != nil {
			r.cancel()
		}
		p.mu.Unlock()
	}
	select {
	case r.lock <- struct{}{}:
	case <-ctx.Done():
		p.put(key, r)
		return ctx, func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	p.mu.Lock()
	r.cancel = nil
	if cancellable {
		r.cancel = cancel
	}
	p.mu.Unlock()
	return ctx, func() {
		p.mu.Lock()
		r.cancel = nil
		p.mu.Unlock()
		cancel()
		<-r.lock
		p.put(key, r)
	}
}

// defaultLeaseTTL bounds how long a dead bot's lease on a PR holds others
// back (Workflow.LeaseTTL); a live one renews it every third of that.
const defaultLeaseTTL = 2 * time.Minute

// beginPR is prRuns.begin across bots: after the PR's turn in this process,
// it also takes the PR's lease in the database, so bots sharing PostgreSQL
// work on one PR one at a time. done releases both.
func (w *Workflow) beginPR(ctx context.Context, repo gh.Repo, number int, supersede, cancellable bool) (context.Context, func(), error) {
	prCtx, done := w.prs.begin(ctx, fmt.Sprintf("%s#%d", repo.FullName(), number), supersede, cancellable)
	if w.Store == nil || !w.Shared {
		return prCtx, done, nil // one bot on the database: the process lock is enough
	}
	holder := w.holder()
	leaseTTL := cmp.Or(w.LeaseTTL, defaultLeaseTTL)
	for {
		ok, err := w.Store.TakePR(prCtx, repo.FullName(), number, holder, leaseTTL)
		if err != nil || prCtx.Err() != nil {
			done()
			if prCtx.Err() != nil {
				return prCtx, func() {}, nil // superseded while waiting: the caller sees prCtx done
			}
			return nil, nil, err
		}
		if ok {
			break
		}
		select {
		case <-prCtx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
	stop := make(chan struct{})
	renewed := make(chan struct{})
	go func() {
		defer close(renewed)
		t := time.NewTicker(leaseTTL / 3)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				w.Store.TakePR(context.WithoutCancel(ctx), repo.FullName(), number, holder, leaseTTL)
			}
		}
	}()
	return prCtx, func() {
		close(stop)
		<-renewed
		w.Store.ReleasePR(context.WithoutCancel(ctx), repo.FullName(), number, holder)
		done()
	}, nil
}

// holder names this bot process in PR leases.
func (w *Workflow) holder() string {
	w.holderOnce.Do(func() {
		b := make([]byte, 8)
		rand.Read(b)
		host, _ := os.Hostname()
		w.holderID = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b))
	})
	return w.holderID
}
