// Package github is the bot's side of GitHub: App authentication, webhook
// verification and decoding, and the small typed client the rest of the bot
// uses.
package github

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	gogithub "github.com/google/go-github/v60/github"
)

// AppConfig configures NewApp.
type AppConfig struct {
	AppID      int64
	PrivateKey *rsa.PrivateKey
	// APIURL is the REST API base, https://api.github.com/ or
	// https://HOST/api/v3/ for GitHub Enterprise Server.
	APIURL string
	// Transport is the base transport; nil means a retrying
	// http.DefaultTransport.
	Transport http.RoundTripper
	// Retry tunes retries; zero values mean GitHub-friendly defaults.
	Retry RetryPolicy
}

// App authenticates as a GitHub App and hands out installation clients.
type App struct {
	apiURL *url.URL
	apps   *ghinstallation.AppsTransport
	id     int64

	mu      sync.Mutex
	clients map[int64]*Client
}

// NewApp returns an App for cfg.
func NewApp(cfg AppConfig) (*App, error) {
	u, err := ParseAPIURL(cfg.APIURL)
	if err != nil {
		return nil, err
	}
	base := cfg.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	apps := ghinstallation.NewAppsTransportFromPrivateKey(NewRetryTransport(base, cfg.Retry), cfg.AppID, cfg.PrivateKey)
	apps.BaseURL = strings.TrimSuffix(u.String(), "/")
	return &App{apiURL: u, apps: apps, id: cfg.AppID, clients: map[int64]*Client{}}, nil
}

// ParseAPIURL validates a REST API base URL and gives it the trailing slash
// go-github needs.
func ParseAPIURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("GitHub API URL %q: must be an http(s) URL", raw)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	return u, nil
}

// Installation returns the client for one installation. Clients are cached,
// and each caches its installation token until shortly before it expires.
func (a *App) Installation(id int64) *Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.clients[id]; ok {
		return c
	}
	itr := ghinstallation.NewFromAppsTransport(a.apps, id)
	rate := &rateRecorder{base: &etagCache{base: itr}}
	gc := gogithub.NewClient(&http.Client{Transport: rate, Timeout: 2 * time.Minute})
	gc.BaseURL = a.apiURL
	c := &Client{gh: gc, tokens: itr, installationID: id, appID: a.id, rate: rate}
	a.clients[id] = c
	return c
}

// tokenSource is the installation token provider (ghinstallation.Transport).
type tokenSource interface {
	Token(ctx context.Context) (string, error)
}
