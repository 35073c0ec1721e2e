// Package web is stagebot's dashboard: what runs now, which stage is locked
// by which PR, why an apply failed, what the queue holds and when drift was
// last checked. Pages are rendered on the server from the store; a user
// logs in with GitHub and sees only the repositories they can read there.
package web

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/store"
)

// Config configures New.
type Config struct {
	Store *store.Store
	// PublicURL is where users reach the bot (no trailing slash): GitHub
	// sends them back to PublicURL/oauth/callback.
	PublicURL string
	// GitHubAPIURL is the REST API (trailing slash); GitHubWebURL is where
	// users log in (https://github.com/, or a GitHub Enterprise host).
	GitHubAPIURL, GitHubWebURL string
	// ClientID and ClientSecret are the App's OAuth credentials.
	ClientID, ClientSecret string
	// SessionKeys seal the session cookies.
	SessionKeys *seal.Keyring
	// Redact keeps a repository's secrets out of what a page shows.
	Redact func(repo, text string) string
	// Release releases the lock a PR holds on a stage for user, with the
	// rights /unlock needs; refusal says why not.
	Release func(ctx context.Context, repo, stage, user string) (refusal string, err error)
	// ApplyStatus says, per stage with a saved plan of a PR, whether /apply
	// would go ahead now ("") or why not (nil: not shown).
	ApplyStatus func(ctx context.Context, repo string, pr int, planned []string) (map[string]string, error)
	// Queue is River UI, served under /queue/ (nil: none).
	Queue http.Handler
	// QueueRepos lists, from GitHub, every repository of every installation
	// of the App (owner/name): the queue holds jobs of any of them, so River
	// UI is shown only to those who may read them all. Required with Queue.
	QueueRepos func(ctx context.Context) ([]string, error)
	// Replica names this bot: a run's live log streams from the replica
	// that runs it.
	Replica string
	Logger  *slog.Logger
	// HTTPClient talks to GitHub (default: 10 s timeout).
	HTTPClient *http.Client
}

// Handler serves the dashboard.
type Handler struct {
	cfg    Config
	mux    *http.ServeMux
	access *accessCache
	queued *repoList
	secure bool
}

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"short": func(sha string) string {
		if len(sha) > 7 {
			return sha[:7]
		}
		return sha
	},
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	},
}).ParseFS(templateFS, "templates/*.html"))

// New returns the dashboard's handler.
func New(cfg Config) (*Handler, error) {
	switch {
	case cfg.Store == nil || cfg.SessionKeys == nil || cfg.Redact == nil || cfg.Release == nil:
		return nil, errors.New("web: store, session keys, redaction and release are required")
	case cfg.ClientID == "" || cfg.ClientSecret == "":
		return nil, errors.New("web: the App's OAuth client id and secret are required (bot setup stores them)")
	case !strings.HasPrefix(cfg.PublicURL, "http://") && !strings.HasPrefix(cfg.PublicURL, "https://"):
		return nil, errors.New("web: the public URL must be http(s)://host")
	case cfg.Queue != nil && cfg.QueueRepos == nil:
		return nil, errors.New("web: River UI needs the list of the repositories it shows jobs of")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	cfg.PublicURL = strings.TrimSuffix(cfg.PublicURL, "/")
	h := &Handler{cfg: cfg, mux: http.NewServeMux(), access: newAccessCache(time.Minute), queued: newRepoList(cfg.QueueRepos, time.Minute), secure: strings.HasPrefix(cfg.PublicURL, "https://")}
	h.mux.HandleFunc("GET /login", h.login)
	h.mux.HandleFunc("GET /oauth/callback", h.callback)
	h.mux.HandleFunc("POST /logout", h.withUser(h.logout))
	h.mux.HandleFunc("GET /{$}", h.withUser(h.overview))
	h.mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", h.withUser(h.pull))
	h.mux.HandleFunc("POST /repos/{owner}/{repo}/locks/{stage}/release", h.withUser(h.release))
	h.mux.HandleFunc("GET /runs/{id}", h.withUser(h.run))
	h.mux.HandleFunc("GET /runs/{id}/log", h.withUser(h.runLog))
	if cfg.Queue != nil {
		h.mux.Handle("/queue/", h.withUser(h.queue))
	}
	return h, nil
}

// ServeHTTP implements http.Handler. Every page is private to its user
// and never framed.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "same-origin")
	h.mux.ServeHTTP(w, r)
}

// render writes a page, or a plain 500 when the template fails.
func (h *Handler) render(w http.ResponseWriter, status int, name string, data map[string]any) {
	data["Queue"] = h.cfg.Queue != nil // the nav's link
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		h.cfg.Logger.Error("render page", "page", name, "error", err.Error())
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(b.String()))
}

// notFound is what a missing page and a page the user may not see both
// answer: a user learns nothing of repositories they cannot read.
func (h *Handler) notFound(w http.ResponseWriter, u *session) {
	h.render(w, http.StatusNotFound, "notfound.html", map[string]any{"User": u})
}
