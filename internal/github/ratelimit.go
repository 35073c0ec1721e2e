package github

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Rate is an installation's REST API quota as GitHub last reported it
// (X-RateLimit-Limit, -Remaining and -Reset of the core resource).
type Rate struct {
	Limit     int
	Remaining int
	Reset     time.Time
}

// RateLimit returns the installation's REST quota as its last answers
// reported it; false before any answer reported one, or once that quota's
// window has reset (what is left then is not known until the next answer).
func (c *Client) RateLimit() (Rate, bool) {
	if c.rate == nil {
		return Rate{}, false
	}
	return c.rate.get(time.Now())
}

// rateRecorder is a transport that keeps the core quota GitHub's answers
// report. Answers to requests made at once may arrive out of order: within
// one window the lowest remaining count wins, and a later window replaces
// an earlier one.
type rateRecorder struct {
	base http.RoundTripper

	mu   sync.Mutex
	rate Rate
	seen bool
}

func (r *rateRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if err == nil {
		r.observe(resp.Header)
	}
	return resp, err
}

// observe keeps the quota of one answer's headers, if they report the core
// resource's (a search or GraphQL quota is another).
func (r *rateRecorder) observe(h http.Header) {
	if res := h.Get("X-RateLimit-Resource"); res != "" && res != "core" {
		return
	}
	limit, err1 := strconv.Atoi(h.Get("X-RateLimit-Limit"))
	remaining, err2 := strconv.Atoi(h.Get("X-RateLimit-Remaining"))
	reset, err3 := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return
	}
	rate := Rate{Limit: limit, Remaining: remaining, Reset: time.Unix(reset, 0)}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.seen, rate.Reset.After(r.rate.Reset), rate.Reset.Equal(r.rate.Reset) && rate.Remaining < r.rate.Remaining:
		r.rate, r.seen = rate, true
	}
}

func (r *rateRecorder) get(now time.Time) (Rate, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.seen || !now.Before(r.rate.Reset) {
		return Rate{}, false
	}
	return r.rate, true
}
