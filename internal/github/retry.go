package github

import (
	"context"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// RetryPolicy bounds retries of GitHub requests.
type RetryPolicy struct {
	// Max is the number of retries after the first try (default 4).
	Max int
	// MinWait and MaxWait bound the exponential backoff (defaults 1s, 30s).
	MinWait, MaxWait time.Duration
	// MaxRetryAfter caps how long a Retry-After header may make us wait
	// (default 60s); longer waits fail the request so the job retries later.
	MaxRetryAfter time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Max == 0 {
		p.Max = 4
	}
	if p.MinWait == 0 {
		p.MinWait = time.Second
	}
	if p.MaxWait == 0 {
		p.MaxWait = 30 * time.Second
	}
	if p.MaxRetryAfter == 0 {
		p.MaxRetryAfter = time.Minute
	}
	return p
}

// NewRetryTransport wraps base so that requests are retried on network
// errors, 5xx and GitHub's rate limits (403/429 with Retry-After or an
// exhausted x-ratelimit-remaining), with backoff that honours Retry-After.
// A POST creates something: it is retried on rate limits only (GitHub did
// not take it), never on a 5xx or a lost answer, which may hide a create
// that happened; the client looks before it creates again.
func NewRetryTransport(base http.RoundTripper, p RetryPolicy) http.RoundTripper {
	return byMethod{other: retryTransport(base, p, true), post: retryTransport(base, p, false)}
}

type byMethod struct{ other, post http.RoundTripper }

func (b byMethod) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost {
		return b.post.RoundTrip(r)
	}
	return b.other.RoundTrip(r)
}

func retryTransport(base http.RoundTripper, p RetryPolicy, onFailure bool) http.RoundTripper {
	p = p.withDefaults()
	c := retryablehttp.NewClient()
	c.HTTPClient = &http.Client{Transport: base}
	c.Logger = nil // request URLs are logged by the bot where useful, never here
	c.RetryMax = p.Max
	c.RetryWaitMin = p.MinWait
	c.RetryWaitMax = p.MaxWait
	c.CheckRetry = func(ctx context.Context, resp *http.Response, err error) (bool, error) {
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		if err != nil {
			if !onFailure {
				return false, nil
			}
			return retryablehttp.DefaultRetryPolicy(ctx, resp, err)
		}
		if rateLimited(resp) {
			wait, ok := retryAfter(resp)
			return !ok || wait <= p.MaxRetryAfter, nil
		}
		return onFailure && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented, nil
	}
	c.Backoff = func(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
		if resp != nil {
			if wait, ok := retryAfter(resp); ok {
				return wait
			}
		}
		d := time.Duration(float64(minWait) * math.Pow(2, float64(attempt)))
		return min(d, maxWait)
	}
	// After the last retry, hand GitHub's own response to go-github so
	// its error (status, message) reaches the caller.
	c.ErrorHandler = retryablehttp.PassthroughErrorHandler
	return &retryablehttp.RoundTripper{Client: c}
}

func rateLimited(resp *http.Response) bool {
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusTooManyRequests {
		return false
	}
	if _, ok := retryAfter(resp); ok {
		return true
	}
	return resp.Header.Get("X-Ratelimit-Remaining") == "0"
}

// retryAfter reads Retry-After (seconds), or for an exhausted primary rate
// limit the time until X-Ratelimit-Reset.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if s := resp.Header.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n >= 0 {
			return time.Duration(n) * time.Second, true
		}
	}
	if resp.Header.Get("X-Ratelimit-Remaining") == "0" {
		if n, err := strconv.ParseInt(resp.Header.Get("X-Ratelimit-Reset"), 10, 64); err == nil {
			return max(time.Until(time.Unix(n, 0)), 0), true
		}
	}
	return 0, false
}
