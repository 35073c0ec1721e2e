package github

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync"
)

// etagCache is a transport that makes an installation's GET requests
// conditional: an answer with an ETag is kept (bounded), and the next GET
// of the same URL sends it in If-None-Match. GitHub answers 304, which
// does not count against the rate limit, when nothing changed; the kept
// answer is then handed on as it was, with the 304's rate limit headers.
type etagCache struct {
	base http.RoundTripper

	mu      sync.Mutex
	entries map[string]*etagEntry
	order   []string // oldest first
	bytes   int
}

type etagEntry struct {
	etag   string
	status int
	header http.Header
	body   []byte
}

const (
	maxETagEntries   = 512
	maxETagBytes     = 32 << 20
	maxETagEntryBody = 1 << 20
)

func (c *etagCache) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodGet || req.Header.Get("If-None-Match") != "" || req.Header.Get("Range") != "" {
		return c.base.RoundTrip(req)
	}
	key := req.URL.String() + "\n" + req.Header.Get("Accept")
	c.mu.Lock()
	kept := c.entries[key]
	c.mu.Unlock()
	if kept != nil {
		req = req.Clone(req.Context())
		req.Header.Set("If-None-Match", kept.etag)
	}
	resp, err := c.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	switch {
	case resp.StatusCode == http.StatusNotModified && kept != nil:
		resp.Body.Close()
		header := kept.header.Clone()
		for k, v := range resp.Header {
			if strings.HasPrefix(strings.ToLower(k), "x-ratelimit-") || k == "Date" {
				header[k] = v
			}
		}
		return &http.Response{Status: http.StatusText(kept.status), StatusCode: kept.status, Proto: resp.Proto, ProtoMajor: resp.ProtoMajor, ProtoMinor: resp.ProtoMinor,
			Header: header, Body: io.NopCloser(bytes.NewReader(kept.body)), ContentLength: int64(len(kept.body)), Request: req}, nil
	case resp.StatusCode == http.StatusOK && resp.Header.Get("ETag") != "":
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxETagEntryBody+1))
		rest := resp.Body
		if err != nil || len(body) > maxETagEntryBody {
			// Too large to keep: hand it on whole, read or not.
			resp.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), rest), rest}
			return resp, nil
		}
		rest.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		c.keep(key, &etagEntry{etag: resp.Header.Get("ETag"), status: resp.StatusCode, header: resp.Header.Clone(), body: body})
	}
	return resp, nil
}

// keep stores an answer, dropping the oldest beyond the bounds.
func (c *etagCache) keep(key string, e *etagEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]*etagEntry{}
	}
	if old, ok := c.entries[key]; ok {
		c.bytes -= len(old.body)
	} else {
		c.order = append(c.order, key)
	}
	c.entries[key] = e
	c.bytes += len(e.body)
	for len(c.order) > 0 && (len(c.entries) > maxETagEntries || c.bytes > maxETagBytes) {
		oldest := c.order[0]
		c.order = c.order[1:]
		if old, ok := c.entries[oldest]; ok {
			c.bytes -= len(old.body)
			delete(c.entries, oldest)
		}
	}
}
