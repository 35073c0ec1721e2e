package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// Where a login or a form sends the browser next stays on the dashboard,
// whatever next= or back= an attacker's link carries.
func TestLocalPath(t *testing.T) {
	for in, want := range map[string]string{
		"/repos/acme/platform/pulls/1": "/repos/acme/platform/pulls/1",
		"/runs/ab12?x=1":               "/runs/ab12?x=1",
		"":                             "/",
		"https://evil.example/":        "/",
		"//evil.example/":              "/",
		"/\\evil.example/":             "/",
		"javascript:alert(1)":          "/",
		"runs/ab12":                    "/",
	} {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// The web flow against the fake GitHub: a login ends in a session, and
// what GitHub refuses is said with GitHub's error code and nothing of the
// exchange: neither the client secret nor the code nor a token reaches the
// page or the log.
func TestLoginThroughGitHub(t *testing.T) {
	const next = "/runs/abc"
	tests := []struct {
		name   string
		secret string
		// replay sends the callback a second time, with the used code.
		replay   bool
		down     bool
		want     int
		wantText string
	}{
		{name: "logs in", secret: githubtest.ClientSecret, want: http.StatusSeeOther},
		{name: "wrong client secret", secret: "not-the-client-secret", want: http.StatusBadGateway, wantText: "GitHub refused the code (incorrect_client_credentials)"},
		{name: "code used twice", secret: githubtest.ClientSecret, replay: true, want: http.StatusBadGateway, wantText: "GitHub refused the code (bad_verification_code)"},
		{name: "GitHub down", secret: githubtest.ClientSecret, down: true, want: http.StatusBadGateway, wantText: "GitHub could not be reached"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := dashboardWith(t, 0)
			gh := githubtest.New(t)
			gh.SignIn("alice")
			gh.RegisterCallbackURL("https://bot.example.com/oauth/callback")
			var log bytes.Buffer
			h.cfg.GitHubAPIURL, h.cfg.GitHubWebURL, h.cfg.ClientID, h.cfg.ClientSecret = gh.URL(), gh.URL(), githubtest.ClientID, tt.secret
			h.cfg.Logger = slog.New(slog.NewTextHandler(&log, nil))

			login := serve(h, httptest.NewRequest("GET", "/login?next="+url.QueryEscape(next), nil))
			authorize, _ := url.Parse(login.Header().Get("Location"))
			if q := authorize.Query(); authorize.Path != "/login/oauth/authorize" || q.Get("client_id") != githubtest.ClientID || q.Get("redirect_uri") != "https://bot.example.com/oauth/callback" || q.Get("state") == "" {
				t.Fatalf("login sends the browser to %s", authorize)
			}
			resp, err := noFollow.Get(authorize.String())
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			back, _ := url.Parse(resp.Header.Get("Location"))
			if tt.down {
				gh.Close()
			}
			callback := func() *httptest.ResponseRecorder {
				req := httptest.NewRequest("GET", back.RequestURI(), nil)
				for _, c := range login.Result().Cookies() {
					req.AddCookie(c)
				}
				return serve(h, req)
			}
			rec := callback()
			if tt.replay {
				rec = callback()
			}
			if rec.Code != tt.want || !strings.Contains(rec.Body.String(), tt.wantText) {
				t.Fatalf("callback: %d %q, want %d %q", rec.Code, rec.Body, tt.want, tt.wantText)
			}
			if rec.Code == http.StatusSeeOther {
				req := httptest.NewRequest("GET", "/", nil)
				for _, c := range rec.Result().Cookies() {
					req.AddCookie(c)
				}
				if s := h.sessionOf(req); s == nil || s.Login != "alice" || rec.Header().Get("Location") != next {
					t.Errorf("logged in as %+v, sent to %q", s, rec.Header().Get("Location"))
				}
			}
			for _, secret := range []string{tt.secret, back.Query().Get("code"), "ghu_"} {
				if strings.Contains(rec.Body.String()+log.String(), secret) {
					t.Errorf("%q shown or logged:\n%s\n%s", secret, rec.Body, &log)
				}
			}
		})
	}
}

// The web flow's endpoints are the configured GitHub's: an Enterprise host
// logs users in at https://HOST/login/oauth/authorize.
func TestLoginOnEnterprise(t *testing.T) {
	h, _ := dashboardWith(t, 0)
	h.cfg.GitHubWebURL = "https://ghe.example.com/"
	rec := serve(h, httptest.NewRequest("GET", "/login", nil))
	if loc := rec.Header().Get("Location"); !strings.HasPrefix(loc, "https://ghe.example.com/login/oauth/authorize?client_id=id&redirect_uri=https%3A%2F%2Fbot.example.com%2Foauth%2Fcallback&") {
		t.Errorf("login sends the browser to %s", loc)
	}
	if c := h.oauth().Endpoint.TokenURL; c != "https://ghe.example.com/login/oauth/access_token" {
		t.Errorf("the code is exchanged at %s", c)
	}
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func serve(h http.Handler, req *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}
