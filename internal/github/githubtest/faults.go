package githubtest

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Fault is a failure the fake answers with instead of doing the request.
type Fault struct {
	Status     int
	RetryAfter int // seconds; 0 means no Retry-After header
	Message    string
	// Done makes the fake do the request before it fails: GitHub took the
	// write, but the caller never hears so (a 502 from its edge).
	Done bool
	// DocsURL is the answer's documentation_url, when GitHub gives one of
	// its own to the failure (the secondary rate limit's).
	DocsURL string
}

// ServerError is GitHub's occasional 502.
var ServerError = Fault{Status: http.StatusBadGateway, Message: "Server Error"}

// SecondaryRateLimit is GitHub's 403 for too many requests in a short time.
var SecondaryRateLimit = Fault{
	Status:     http.StatusForbidden,
	RetryAfter: 1,
	Message:    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
	DocsURL:    "https://docs.github.com/free-pro-team@latest/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
}

type fault struct {
	method, pathPart string
	left             int
	until            time.Time // an outage: every match fails until then
	f                Fault
}

// FailNext makes the next times requests with this method whose path
// contains pathPart fail with f, without any effect.
func (s *Server) FailNext(method, pathPart string, times int, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{method: method, pathPart: pathPart, left: times, f: f})
}

// Outage makes every request whose path contains pathPart ("/": all of
// them, git included) fail with f for d, as GitHub does in an outage.
func (s *Server) Outage(pathPart string, d time.Duration, f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &fault{pathPart: pathPart, until: s.now().Add(d), f: f})
}

func (s *Server) takeFault(r *http.Request) (Fault, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if !f.until.IsZero() && s.now().Before(f.until) && strings.Contains(r.URL.Path, f.pathPart) {
			return f.f, true
		}
		if f.left > 0 && f.method == r.Method && strings.Contains(r.URL.Path, f.pathPart) {
			f.left--
			return f.f, true
		}
	}
	return Fault{}, false
}

type stall struct {
	method, pathPart string
	once             sync.Once
	release          chan struct{}
	hit              chan struct{}
	hitOnce          sync.Once
}

// Stall makes requests with this method whose path contains pathPart take
// effect but not answer until release is called or the client goes away:
// GitHub did the work and the bot never heard. hit is closed at the first
// such request.
func (s *Server) Stall(method, pathPart string) (hit <-chan struct{}, release func()) {
	st := &stall{method: method, pathPart: pathPart, release: make(chan struct{}), hit: make(chan struct{})}
	s.mu.Lock()
	s.stalls = append(s.stalls, st)
	s.mu.Unlock()
	return st.hit, func() { st.once.Do(func() { close(st.release) }) }
}

func (s *Server) releaseStalls() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stalls {
		st.once.Do(func() { close(st.release) })
	}
}

func (s *Server) stallFor(r *http.Request) *stall {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, st := range s.stalls {
		if st.method == r.Method && strings.Contains(r.URL.Path, st.pathPart) {
			select {
			case <-st.release:
				continue
			default:
				return st
			}
		}
	}
	return nil
}

// statusWriter remembers the status for the request log and can hold back
// the response of a stalled request.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// middleware records requests, counts them against their rate limit, and
// applies faults and stalls.
func (s *Server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			s.mu.Lock()
			s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: sw.status})
			s.mu.Unlock()
		}()
		if !s.spendQuota(sw, r) {
			return
		}
		if f, ok := s.takeFault(r); ok {
			if f.Done {
				next.ServeHTTP(&bufferedWriter{header: http.Header{}}, r)
			}
			if f.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
			}
			apiErrorDocs(sw, f.Status, f.Message, f.DocsURL)
			return
		}
		st := s.stallFor(r)
		if st == nil && s.conditional(r) {
			s.serveConditional(sw, r, next)
			return
		}
		if st == nil {
			next.ServeHTTP(sw, r)
			return
		}
		// Do the work into a buffer, then hold the answer back.
		rec := &bufferedWriter{header: http.Header{}}
		next.ServeHTTP(rec, r)
		st.hitOnce.Do(func() { close(st.hit) })
		select {
		case <-st.release:
		case <-r.Context().Done():
			sw.status = 499
			return
		}
		rec.writeTo(sw)
	})
}

// writeTo sends what was buffered: its headers, status and body.
func (b *bufferedWriter) writeTo(w http.ResponseWriter) {
	for k, v := range b.header {
		w.Header()[k] = v
	}
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	w.Write(b.body)
}

type bufferedWriter struct {
	header http.Header
	status int
	body   []byte
}

func (b *bufferedWriter) Header() http.Header { return b.header }
func (b *bufferedWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.body = append(b.body, p...)
	return len(p), nil
}
func (b *bufferedWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}
