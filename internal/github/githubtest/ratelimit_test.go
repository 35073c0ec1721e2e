package githubtest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// Each installation's REST calls spend its own quota, reported in GitHub's
// headers; a spent quota is GitHub's 403 until the window resets; git is
// not counted.
func TestRateLimitPerInstallation(t *testing.T) {
	s := New(t)
	s.AddRepo("acme", "platform")
	now := time.Now()
	jwtTok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: strconv.FormatInt(AppID, 10), IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}).SignedString(AppKey())
	if err != nil {
		t.Fatal(err)
	}
	status, body := post(t, s.URL()+"app/installations/"+strconv.FormatInt(InstallationID, 10)+"/access_tokens", "Bearer "+jwtTok)
	var tok struct{ Token string }
	if status != 201 || json.Unmarshal([]byte(body), &tok) != nil {
		t.Fatalf("token: %d %s", status, body)
	}
	get := func(path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.URL()+path, nil)
		req.Header.Set("Authorization", "token "+tok.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := get("repos/acme/platform")
	h := resp.Header
	if resp.StatusCode != 200 || h.Get("X-RateLimit-Limit") != "5000" || h.Get("X-RateLimit-Remaining") != "4999" || h.Get("X-RateLimit-Used") != "1" || h.Get("X-RateLimit-Resource") != "core" {
		t.Errorf("first call: %d %v", resp.StatusCode, h)
	}
	if reset, _ := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); time.Until(time.Unix(reset, 0)) < 59*time.Minute {
		t.Errorf("reset %s", h.Get("X-RateLimit-Reset"))
	}
	if got := get("git/acme/platform.git/info/refs?service=git-upload-pack").Header.Get("X-RateLimit-Remaining"); got != "" || s.RateRemaining(InstallationID) != 4999 {
		t.Errorf("git counted: header %q, %d left", got, s.RateRemaining(InstallationID))
	}

	reset := now.Add(10 * time.Minute)
	s.SetRateRemaining(InstallationID, 1, reset)
	if resp := get("repos/acme/platform"); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "0" || resp.Header.Get("X-RateLimit-Reset") != strconv.FormatInt(reset.Unix(), 10) {
		t.Errorf("the last call: %d %v", resp.StatusCode, resp.Header)
	}
	if resp := get("repos/acme/platform"); resp.StatusCode != 403 || resp.Header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("past the quota: %d %v", resp.StatusCode, resp.Header)
	}
	// The window ends: the quota is full again.
	s.mu.Lock()
	s.now = func() time.Time { return reset.Add(time.Second) }
	s.mu.Unlock()
	if resp := get("repos/acme/platform"); resp.StatusCode != 200 || resp.Header.Get("X-RateLimit-Remaining") != "4999" {
		t.Errorf("after the reset: %d %v", resp.StatusCode, resp.Header)
	}
}
