package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

func post(t *testing.T, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAccessTokensOnlyForTheAppsJWT(t *testing.T) {
	s := New(t)
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	now := time.Now()
	sign := func(method jwt.SigningMethod, key any, iss string, iat, exp time.Time) string {
		tok, err := jwt.NewWithClaims(method, jwt.RegisteredClaims{
			Issuer: iss, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
		}).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	app := strconv.FormatInt(AppID, 10)
	tests := []struct {
		name   string
		auth   string
		inst   int64
		status int
	}{
		{"valid", sign(jwt.SigningMethodRS256, AppKey(), app, now.Add(-30*time.Second), now.Add(2*time.Minute)), InstallationID, 201},
		{"no token", "", InstallationID, 401},
		{"other key", sign(jwt.SigningMethodRS256, other, app, now, now.Add(time.Minute)), InstallationID, 401},
		{"HS256 with the public key as secret", sign(jwt.SigningMethodHS256, []byte("secret"), app, now, now.Add(time.Minute)), InstallationID, 401},
		{"expired", sign(jwt.SigningMethodRS256, AppKey(), app, now.Add(-15*time.Minute), now.Add(-5*time.Minute)), InstallationID, 401},
		{"valid for over 10 minutes", sign(jwt.SigningMethodRS256, AppKey(), app, now, now.Add(time.Hour)), InstallationID, 401},
		{"other app", sign(jwt.SigningMethodRS256, AppKey(), "1", now, now.Add(time.Minute)), InstallationID, 401},
		{"unknown installation", sign(jwt.SigningMethodRS256, AppKey(), app, now, now.Add(time.Minute)), 9, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := post(t, fmt.Sprintf("%sapp/installations/%d/access_tokens", s.URL(), tt.inst), tt.auth)
			if status != tt.status {
				t.Fatalf("status = %d (%s), want %d", status, body, tt.status)
			}
			if status == 201 {
				var tok struct {
					Token     string    `json:"token"`
					ExpiresAt time.Time `json:"expires_at"`
				}
				if err := json.Unmarshal([]byte(body), &tok); err != nil || !strings.HasPrefix(tok.Token, "ghs_") || time.Until(tok.ExpiresAt) < 50*time.Minute {
					t.Fatalf("token response %s: %v", body, err)
				}
			}
		})
	}
}

func TestRepoEndpointsNeedAValidToken(t *testing.T) {
	s := New(t)
	s.AddRepo("acme", "platform")
	for _, auth := range []string{"", "token nope", "Bearer ghs_unknown"} {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"repos/acme/platform", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Errorf("auth %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

func TestPaginationLinks(t *testing.T) {
	items := make([]int, 65)
	for i := range items {
		items[i] = i
	}
	tests := []struct {
		query     string
		first     int
		n         int
		wantLinks []string
	}{
		{"", 0, 30, []string{`rel="next"`, `rel="last"`}},
		{"?page=3", 60, 5, []string{`rel="first"`, `rel="prev"`}},
		{"?per_page=500", 0, 65, nil},
		{"?page=9", 0, 0, []string{`rel="first"`}},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest("GET", "http://x/list"+tt.query, nil)
		rec := &bufferedWriter{header: http.Header{}}
		got := paginate(rec, req, items)
		if len(got) != tt.n || (tt.n > 0 && got[0] != tt.first) {
			t.Errorf("%s: got %d items from %v", tt.query, len(got), got)
		}
		link := rec.header.Get("Link")
		for _, w := range tt.wantLinks {
			if !strings.Contains(link, w) {
				t.Errorf("%s: Link %q lacks %s", tt.query, link, w)
			}
		}
		if tt.wantLinks == nil && link != "" {
			t.Errorf("%s: Link %q, want none", tt.query, link)
		}
	}
}
