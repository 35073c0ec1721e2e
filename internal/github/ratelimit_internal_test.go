package github

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// Answers arrive out of order: within a window the lowest count wins, a
// later window replaces an earlier one, another resource's quota is not
// the core one, and a quota past its reset is not known.
func TestRateRecorderKeepsTheCoreQuota(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	hour, later := now.Add(time.Hour), now.Add(2*time.Hour)
	header := func(resource string, remaining int, reset time.Time) http.Header {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", "5000")
		h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
		h.Set("X-RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if resource != "" {
			h.Set("X-RateLimit-Resource", resource)
		}
		return h
	}
	for _, tc := range []struct {
		name    string
		answers []http.Header
		want    Rate
		known   bool
	}{
		{"none", nil, Rate{}, false},
		{"no headers", []http.Header{{}}, Rate{}, false},
		{"lowest wins", []http.Header{header("core", 40, hour), header("core", 42, hour)}, Rate{5000, 40, hour}, true},
		{"new window", []http.Header{header("core", 3, hour), header("", 4999, later)}, Rate{5000, 4999, later}, true},
		{"old window late", []http.Header{header("core", 4999, later), header("core", 3, hour)}, Rate{5000, 4999, later}, true},
		{"search quota", []http.Header{header("core", 100, hour), header("search", 2, hour)}, Rate{5000, 100, hour}, true},
		{"past reset", []http.Header{header("core", 100, now.Add(-time.Second))}, Rate{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &rateRecorder{}
			for _, h := range tc.answers {
				r.observe(h)
			}
			got, ok := r.get(now)
			if ok != tc.known || got != tc.want {
				t.Errorf("got %+v, %v; want %+v, %v", got, ok, tc.want, tc.known)
			}
		})
	}
}
