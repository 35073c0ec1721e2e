package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The App's OAuth credentials, as the manifest conversion hands them out.
const (
	ClientID     = "Iv1.test"
	ClientSecret = "client-secret-test"
)

// oauthCode is an authorization code the web flow handed out: one use,
// ten minutes, for the client and redirect URI it was asked with.
type oauthCode struct {
	user, redirectURI string
	expires           time.Time
}

// SignIn makes login the user who is signed in to GitHub in the browser:
// the next authorization of the App's OAuth flow is theirs. "" signs out.
func (s *Server) SignIn(login string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signedIn = login
}

// RegisterCallbackURL adds an OAuth callback URL to the App's settings, as
// its owner would on GitHub; an App created from a manifest has the
// manifest's callback_urls.
func (s *Server) RegisterCallbackURL(u string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbackURLs = append(s.callbackURLs, u)
}

// oauthAuthorize is GET /login/oauth/authorize of GitHub's web flow: the
// signed-in user authorizes the App at once (as one who did before) and is
// sent back to redirect_uri with a code and the state. An unknown client
// is a 404 page; nobody signed in is GitHub's sign-in page (a 200 that goes
// nowhere). A redirect_uri that is not one of the App's callback URLs is
// refused as GitHub refuses it: back to the first registered callback
// URL with error=redirect_uri_mismatch, or GitHub's error page when the
// App has none.
func (s *Server) oauthAuthorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if q.Get("client_id") != ClientID || err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") {
		http.Error(w, "Not Found", http.StatusNotFound)
		return
	}
	s.mu.Lock()
	registered := append([]string(nil), s.callbackURLs...)
	s.mu.Unlock()
	// A GitHub App's redirect_uri must be one of its callback URLs exactly,
	// query included.
	if !slices.Contains(registered, redirect.String()) {
		if len(registered) == 0 {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte("<!doctype html><title>Redirect URI mismatch</title><h1>The redirect_uri is not associated with this application.</h1>"))
			return
		}
		back, _ := url.Parse(registered[0])
		back.RawQuery = url.Values{"error": {"redirect_uri_mismatch"}, "error_description": {"The redirect_uri MUST match the registered callback URL for this application."},
			"error_uri": {"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch"}, "state": {q.Get("state")}}.Encode()
		http.Redirect(w, r, back.String(), http.StatusFound)
		return
	}
	s.mu.Lock()
	login := s.signedIn
	code := ""
	if login != "" {
		b := make([]byte, 10)
		rand.Read(b)
		code = hex.EncodeToString(b)
		s.oauthCodes[code] = oauthCode{user: login, redirectURI: redirect.String(), expires: s.now().Add(10 * time.Minute)}
	}
	s.mu.Unlock()
	if login == "" {
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<!doctype html><title>Sign in to GitHub</title><h1>Sign in to GitHub</h1>"))
		return
	}
	back := redirect.Query()
	back.Set("code", code)
	back.Set("state", q.Get("state"))
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// oauthAccessToken is POST /login/oauth/access_token: a code for a user
// access token, with the client's secret. GitHub answers its errors with
// 200 and an error field.
func (s *Server) oauthAccessToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		apiError(w, http.StatusBadRequest, "Problems parsing the body")
		return
	}
	fail := func(code, desc string) {
		writeJSON(w, http.StatusOK, map[string]string{"error": code, "error_description": desc, "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"})
	}
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != ClientSecret {
		fail("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.oauthCodes[r.PostForm.Get("code")]
	delete(s.oauthCodes, r.PostForm.Get("code"))
	if !ok || !c.expires.After(s.now()) {
		fail("bad_verification_code", "The code passed is incorrect or expired.")
		return
	}
	if ru := r.PostForm.Get("redirect_uri"); ru != "" && ru != c.redirectURI {
		fail("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.")
		return
	}
	b := make([]byte, 18)
	rand.Read(b)
	tok := "ghu_" + hex.EncodeToString(b)
	s.tokens[tok] = token{installation: InstallationID, expires: s.now().Add(8 * time.Hour), user: c.user}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]string{"access_token": tok, "token_type": "bearer", "scope": ""})
		return
	}
	w.Header().Set("Content-Type", "application/x-www-form-urlencoded")
	w.Write([]byte(url.Values{"access_token": {tok}, "token_type": {"bearer"}, "scope": {""}}.Encode()))
}

// getUser is GET /user: the user a user access token acts for. An
// installation token is no user's.
func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	tok, _ := tokenOf(r)
	s.mu.Lock()
	t, ok := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok || !t.expires.After(s.now()):
		apiError(w, http.StatusUnauthorized, "Bad credentials")
	case t.user == "":
		apiError(w, http.StatusForbidden, "Resource not accessible by integration")
	default:
		writeJSON(w, http.StatusOK, user(t.user))
	}
}
