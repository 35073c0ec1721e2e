package web

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

const (
	sessionCookie = "stagebot_session"
	stateCookie   = "stagebot_oauth_state"
	sessionTTL    = 8 * time.Hour // GitHub's user tokens of Apps last as long
)

// session is a logged-in user: their GitHub login, their user token (the
// repositories they may see are asked with it), and the CSRF token every
// form carries. It lives in a sealed cookie.
type session struct {
	Login   string `json:"l"`
	Token   string `json:"t"`
	CSRF    string `json:"c"`
	Expires int64  `json:"e"`
}

func randomToken() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var sealContext = []byte("stagebot dashboard session")

func (h *Handler) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: int(maxAge.Seconds()), HttpOnly: true, Secure: h.secure, SameSite: http.SameSiteLaxMode}
}

// sessionOf returns the request's session, or nil.
func (h *Handler) sessionOf(r *http.Request) *session {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	blob, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil {
		return nil
	}
	plain, err := h.cfg.SessionKeys.Open(blob, sealContext)
	if err != nil {
		return nil
	}
	var s session
	if json.Unmarshal(plain, &s) != nil || s.Login == "" || time.Now().Unix() > s.Expires {
		return nil
	}
	return &s
}

// withUser runs next for a logged-in user; anyone else is sent to log in
// (or refused, for what is not a page). A form must carry the session's
// CSRF token.
func (h *Handler) withUser(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		u := h.sessionOf(r)
		if u == nil {
			if r.Method != http.MethodGet || strings.HasSuffix(r.URL.Path, "/log") || strings.HasPrefix(r.URL.Path, "/queue/api/") {
				http.Error(w, "log in first", http.StatusUnauthorized)
				return
			}
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if r.Method == http.MethodPost && !strings.HasPrefix(r.URL.Path, "/queue/") {
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(u.CSRF)) != 1 {
				http.Error(w, "this form is not from your session (missing or wrong CSRF token): reload the page and try again", http.StatusForbidden)
				return
			}
		}
		next(w, r, u)
	}
}

// login starts GitHub's web flow; the state cookie ties the callback to
// this browser.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	next := localPath(r.URL.Query().Get("next"))
	state := randomToken()
	http.SetCookie(w, h.cookie(stateCookie, state+"|"+base64.RawURLEncoding.EncodeToString([]byte(next)), 10*time.Minute))
	http.Redirect(w, r, h.oauth().AuthCodeURL(state), http.StatusFound)
}

// oauth is the App's OAuth client on the configured GitHub (github.com or
// an Enterprise host). The client's credentials go in the form, as GitHub
// documents, not in a Basic header first: auto-detection would send the
// secret twice.
func (h *Handler) oauth() *oauth2.Config {
	return &oauth2.Config{
		ClientID: h.cfg.ClientID, ClientSecret: h.cfg.ClientSecret,
		RedirectURL: h.cfg.PublicURL + "/oauth/callback",
		Endpoint: oauth2.Endpoint{
			AuthURL:   h.cfg.GitHubWebURL + "login/oauth/authorize",
			TokenURL:  h.cfg.GitHubWebURL + "login/oauth/access_token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// callback ends the web flow: the code is exchanged for the user's token,
// the user is asked of GitHub, and the session begins.
func (h *Handler) callback(w http.ResponseWriter, r *http.Request) {
	var state, nextB64 string
	if c, err := r.Cookie(stateCookie); err == nil {
		state, nextB64, _ = strings.Cut(c.Value, "|")
	}
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(r.URL.Query().Get("state"))) != 1 {
		http.Error(w, "this login was not started from this browser: start again at /login", http.StatusBadRequest)
		return
	}
	http.SetCookie(w, h.cookie(stateCookie, "", -time.Second))
	if e := r.URL.Query().Get("error"); e != "" {
		e = gitHubErrorCode(e)
		// GitHub refused before any code: redirect_uri_mismatch when this
		// deployment's /oauth/callback is not among the App's callback URLs.
		h.cfg.Logger.Warn("dashboard login refused by GitHub", "error", e)
		msg := "GitHub refused the login: " + e
		if e == "redirect_uri_mismatch" {
			msg += ". Add " + h.cfg.PublicURL + "/oauth/callback to the GitHub App's callback URLs (bot setup registers it)."
		}
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	token, err := h.exchange(r.Context(), r.URL.Query().Get("code"))
	if err != nil {
		h.cfg.Logger.Warn("dashboard login failed", "error", err.Error())
		http.Error(w, "GitHub did not log you in: "+err.Error(), http.StatusBadGateway)
		return
	}
	var user struct {
		Login string `json:"login"`
	}
	if status, err := h.gitHub(r.Context(), token, "user", &user); err != nil || status != http.StatusOK || user.Login == "" {
		http.Error(w, "GitHub did not say who you are", http.StatusBadGateway)
		return
	}
	s := session{Login: user.Login, Token: token, CSRF: randomToken(), Expires: time.Now().Add(sessionTTL).Unix()}
	plain, _ := json.Marshal(s)
	blob, err := h.cfg.SessionKeys.Seal(plain, sealContext)
	if err != nil {
		http.Error(w, "the session could not be made", http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, h.cookie(sessionCookie, base64.RawURLEncoding.EncodeToString(blob), sessionTTL))
	h.cfg.Logger.Info("dashboard login", "user", user.Login)
	next, _ := base64.RawURLEncoding.DecodeString(nextB64)
	http.Redirect(w, r, localPath(string(next)), http.StatusSeeOther)
}

// gitHubErrorCode is e when it looks like one of GitHub's OAuth error codes
// (short snake_case words); anything else is not shown as GitHub's.
func gitHubErrorCode(e string) string {
	if len(e) > 64 || strings.Trim(e, "abcdefghijklmnopqrstuvwxyz_") != "" {
		return "an unknown error"
	}
	return e
}

// localPath is p when it is a path on this site, else "/": where a login
// or a form sends the browser next never leads off the dashboard ("//host"
// and "/\host" are other hosts to a browser).
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || strings.Contains(p, "\\") {
		return "/"
	}
	return p
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request, _ *session) {
	http.SetCookie(w, h.cookie(sessionCookie, "", -time.Second))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// exchange trades the web flow's code for the user's access token. Its
// errors say what GitHub answered, never what oauth2 quotes of it.
func (h *Handler) exchange(ctx context.Context, code string) (string, error) {
	tok, err := h.oauth().Exchange(context.WithValue(ctx, oauth2.HTTPClient, h.cfg.HTTPClient), code)
	var unreachable *url.Error
	var refused *oauth2.RetrieveError
	switch {
	case errors.As(err, &unreachable):
		return "", errors.New("GitHub could not be reached")
	case errors.As(err, &refused) && refused.ErrorCode != "":
		return "", fmt.Errorf("GitHub refused the code (%s)", gitHubErrorCode(refused.ErrorCode))
	case errors.As(err, &refused):
		return "", fmt.Errorf("GitHub answered %d", refused.Response.StatusCode)
	case err != nil:
		return "", errors.New("GitHub's answer holds no access token")
	}
	return tok.AccessToken, nil
}

// gitHub GETs an API path with the user's token into out.
func (h *Handler) gitHub(ctx context.Context, token, path string, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.cfg.GitHubAPIURL+path, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/vnd.github+json")
	resp, err := h.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, errors.New("GitHub could not be reached")
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && out != nil {
		return resp.StatusCode, json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out)
	}
	return resp.StatusCode, nil
}

// access is what a user may do in a repository, as GitHub says.
type access struct{ read, maintain bool }

// accessTo asks GitHub, with the user's own token, what they may do in repo
// (owner/name), and remembers it for a minute.
func (h *Handler) accessTo(ctx context.Context, u *session, repo string) (access, error) {
	key := u.Login + "\x00" + strings.ToLower(repo)
	if a, known := h.access.get(key); known {
		return a, nil
	}
	owner, name, _ := strings.Cut(repo, "/")
	var out struct {
		Permissions map[string]bool `json:"permissions"`
	}
	status, err := h.gitHub(ctx, u.Token, "repos/"+url.PathEscape(owner)+"/"+url.PathEscape(name), &out)
	if err != nil {
		return access{}, err
	}
	switch status {
	case http.StatusOK:
		a := access{read: true, maintain: out.Permissions["maintain"] || out.Permissions["admin"]}
		h.access.set(key, a)
		return a, nil
	case http.StatusNotFound, http.StatusForbidden, http.StatusUnauthorized:
		h.access.set(key, access{})
		return access{}, nil
	}
	return access{}, fmt.Errorf("GitHub answered %d about %s", status, repo)
}

// canRead reports whether the user may read repo on GitHub.
func (h *Handler) canRead(ctx context.Context, u *session, repo string) (bool, error) {
	a, err := h.accessTo(ctx, u, repo)
	return a.read, err
}

type accessCache struct {
	mu  sync.Mutex
	ttl time.Duration
	m   map[string]accessEntry
}

type accessEntry struct {
	a   access
	exp time.Time
}

func newAccessCache(ttl time.Duration) *accessCache {
	return &accessCache{ttl: ttl, m: map[string]accessEntry{}}
}

func (c *accessCache) get(key string) (access, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.exp) {
		return access{}, false
	}
	return e.a, true
}

func (c *accessCache) set(key string, a access) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) > 10000 {
		clear(c.m)
	}
	c.m[key] = accessEntry{a: a, exp: time.Now().Add(c.ttl)}
}
