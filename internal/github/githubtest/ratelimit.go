package githubtest

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RateLimit is the hourly REST quota GitHub gives an installation, a user
// and an App (the core resource's X-RateLimit-Limit).
const RateLimit = 5000

// rateWindow is how long a quota lasts before it is full again.
const rateWindow = time.Hour

// quota is one caller's primary rate limit: GitHub counts an
// installation's requests, a user's and the App's (its JWT) apart.
type quota struct {
	limit, used int
	reset       time.Time
}

// SetRateRemaining makes installation have remaining REST requests left
// until reset, when its quota is full again: a busy installation, as GitHub
// would report it in X-RateLimit-Remaining and X-RateLimit-Reset.
func (s *Server) SetRateRemaining(installation int64, remaining int, reset time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quotas == nil {
		s.quotas = map[string]*quota{}
	}
	s.quotas[installationQuota(installation)] = &quota{limit: RateLimit, used: RateLimit - remaining, reset: reset}
}

// RateRemaining is how many REST requests installation has left now.
func (s *Server) RateRemaining(installation int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.quotaOf(installationQuota(installation))
	return q.limit - q.used
}

func installationQuota(id int64) string { return fmt.Sprintf("installation %d", id) }

// quotaOf returns a caller's quota, starting a new window when the last one
// has reset. Caller holds s.mu.
func (s *Server) quotaOf(key string) *quota {
	if s.quotas == nil {
		s.quotas = map[string]*quota{}
	}
	q := s.quotas[key]
	if now := s.now(); q == nil || !now.Before(q.reset) {
		q = &quota{limit: RateLimit, reset: now.Add(rateWindow).Truncate(time.Second)}
		s.quotas[key] = q
	}
	return q
}

// quotaKey names whose quota a request spends: its installation's, its
// user's, or the App's for a JWT; "" for a request GitHub's REST rate limit
// does not report on here (git, web pages, bad credentials).
func (s *Server) quotaKey(r *http.Request) string {
	p := r.URL.Path
	if strings.HasPrefix(p, "/git/") || strings.HasPrefix(p, "/login/") || strings.Contains(p, "/settings/apps/new") {
		return ""
	}
	tok, ok := tokenOf(r)
	if !ok || tok == "" {
		return ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.tokens[tok]; ok && t.expires.After(s.now()) {
		if t.user != "" {
			return "user " + t.user
		}
		return installationQuota(t.installation)
	}
	if strings.Count(tok, ".") == 2 {
		return "app"
	}
	return ""
}

// spendQuota counts a request against its caller's quota and sets GitHub's
// rate limit headers on its answer. With nothing left it answers as GitHub
// does (403, X-RateLimit-Remaining: 0) and returns false.
func (s *Server) spendQuota(w http.ResponseWriter, r *http.Request) bool {
	key := s.quotaKey(r)
	if key == "" {
		return true
	}
	s.mu.Lock()
	q := s.quotaOf(key)
	exhausted := q.used >= q.limit
	if !exhausted {
		q.used++
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(q.limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(q.limit-q.used))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(q.reset.Unix(), 10))
	h.Set("X-RateLimit-Used", strconv.Itoa(q.used))
	h.Set("X-RateLimit-Resource", "core")
	s.mu.Unlock()
	if exhausted {
		apiError(w, http.StatusForbidden, "API rate limit exceeded for "+key+". If you reach out to GitHub Support for help, please include the request ID.")
		return false
	}
	return true
}
