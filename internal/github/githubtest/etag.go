package githubtest

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
)

// GitHub answers an API GET with an ETag; a request that sends it back in
// If-None-Match, while nothing changed, gets 304 Not Modified with no body,
// and does not count against the rate limit.
func (s *Server) serveConditional(w *statusWriter, r *http.Request, next http.Handler) {
	rec := &bufferedWriter{header: http.Header{}}
	next.ServeHTTP(rec, r)
	if rec.status == 0 || rec.status == http.StatusOK {
		sum := sha256.Sum256(append([]byte(r.Header.Get("Accept")+"\n"), rec.body...))
		etag := `W/"` + hex.EncodeToString(sum[:20]) + `"`
		rec.header.Set("ETag", etag)
		if r.Header.Get("If-None-Match") == etag {
			rec.status, rec.body = http.StatusNotModified, nil
			s.refundQuota(w, r)
		}
	}
	rec.writeTo(w)
}

// conditional reports whether r is a GET the fake answers with an ETag:
// the REST API's, not git's.
func (s *Server) conditional(r *http.Request) bool {
	return r.Method == http.MethodGet && s.quotaKey(r) != ""
}

// refundQuota gives back what r spent of its caller's quota (a 304), and
// says so in the answer's rate limit headers.
func (s *Server) refundQuota(w http.ResponseWriter, r *http.Request) {
	key := s.quotaKey(r)
	if key == "" {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quotaOf(key)
	if q.used > 0 {
		q.used--
	}
	w.Header().Set("X-RateLimit-Remaining", strconv.Itoa(q.limit-q.used))
	w.Header().Set("X-RateLimit-Used", strconv.Itoa(q.used))
}
