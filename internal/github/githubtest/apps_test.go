package githubtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

// appTokens are the three kinds of credentials GitHub tells apart: the
// App's JWT, an installation's token, and a user's token.
type appTokens struct{ jwt, installation, other, user string }

func tokensFor(t *testing.T, s *Server, other int64) appTokens {
	t.Helper()
	now := time.Now()
	signed, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{
		Issuer: strconv.FormatInt(AppID, 10), IssuedAt: jwt.NewNumericDate(now.Add(-30 * time.Second)), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute)),
	}).SignedString(AppKey())
	if err != nil {
		t.Fatal(err)
	}
	tok := func(inst int64) string {
		status, body := post(t, fmt.Sprintf("%sapp/installations/%d/access_tokens", s.URL(), inst), "Bearer "+signed)
		var out struct{ Token string }
		if status != http.StatusCreated || json.Unmarshal([]byte(body), &out) != nil {
			t.Fatalf("installation token: %d %s", status, body)
		}
		return out.Token
	}
	// A user's token, from the web flow, back to a registered callback URL.
	s.RegisterCallbackURL("http://127.0.0.1/cb")
	s.SignIn("alice")
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(s.srv.URL + "/login/oauth/authorize?" + url.Values{"client_id": {ClientID}, "redirect_uri": {"http://127.0.0.1/cb"}, "state": {"x"}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	resp, err = http.PostForm(s.srv.URL+"/login/oauth/access_token", url.Values{"client_id": {ClientID}, "client_secret": {ClientSecret}, "code": {back.Query().Get("code")}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form, _ := url.ParseQuery(string(b))
	return appTokens{jwt: signed, installation: tok(InstallationID), other: tok(other), user: form.Get("access_token")}
}

func getWith(t *testing.T, u, auth string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// The App's installations are listed for its JWT only; an installation's
// repositories for its own token only, each installation its own.
func TestInstallationEndpointsAuthenticateAsGitHubDoes(t *testing.T) {
	s := New(t)
	s.AddRepo("acme", "platform")
	s.AddRepo("acme", "network")
	other := s.AddInstallation()
	s.AddRepoIn(other, "globex", "infra")
	tok := tokensFor(t, s, other)
	tests := []struct {
		name, path, auth string
		status           int
		want             string // the repositories or installations listed, in order
	}{
		{"installations, the App's JWT", "app/installations", "Bearer " + tok.jwt, 200, fmt.Sprintf("%d %d", InstallationID, other)},
		{"installations, no token", "app/installations", "", 401, ""},
		{"installations, an installation's token", "app/installations", "token " + tok.installation, 401, ""},
		{"installations, a user's token", "app/installations", "Bearer " + tok.user, 401, ""},
		{"repositories, the default installation's token", "installation/repositories", "token " + tok.installation, 200, "acme/network acme/platform"},
		{"repositories, the other installation's token", "installation/repositories", "Bearer " + tok.other, 200, "globex/infra"},
		{"repositories, no token", "installation/repositories", "", 401, ""},
		{"repositories, the App's JWT", "installation/repositories", "Bearer " + tok.jwt, 401, ""},
		{"repositories, a user's token", "installation/repositories", "Bearer " + tok.user, 403, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, body := getWith(t, s.URL()+tt.path, tt.auth)
			if status != tt.status {
				t.Fatalf("status %d (%s), want %d", status, body, tt.status)
			}
			if status != 200 {
				return
			}
			var got []string
			if tt.path == "app/installations" {
				var insts []struct{ ID int64 }
				json.Unmarshal([]byte(body), &insts)
				for _, i := range insts {
					got = append(got, strconv.FormatInt(i.ID, 10))
				}
			} else {
				var out struct {
					TotalCount   int `json:"total_count"`
					Repositories []struct {
						FullName string `json:"full_name"`
					}
				}
				json.Unmarshal([]byte(body), &out)
				for _, r := range out.Repositories {
					got = append(got, r.FullName)
				}
				if out.TotalCount != len(got) {
					t.Errorf("total_count %d for %d repositories", out.TotalCount, len(got))
				}
			}
			if strings.Join(got, " ") != tt.want {
				t.Errorf("listed %q, want %q", got, tt.want)
			}
		})
	}
}

// Both lists come in pages, with GitHub's Link header; total_count counts
// every page.
func TestInstallationListsPaginate(t *testing.T) {
	s := New(t)
	s.AddRepo("acme", "a")
	s.AddRepo("acme", "b")
	other := s.AddInstallation()
	tok := tokensFor(t, s, other)
	status, header, body := getWith(t, s.URL()+"installation/repositories?per_page=1&page=2", "token "+tok.installation)
	if status != 200 || !strings.Contains(body, `"total_count":2`) || !strings.Contains(body, `"full_name":"acme/b"`) || strings.Contains(body, "acme/a") {
		t.Errorf("page 2 of repositories: %d %s", status, body)
	}
	if link := header.Get("Link"); !strings.Contains(link, `rel="prev"`) || strings.Contains(link, `rel="next"`) {
		t.Errorf("page 2 of 2 links %q", link)
	}
	status, header, body = getWith(t, s.URL()+"app/installations?per_page=1", "Bearer "+tok.jwt)
	if status != 200 || !strings.Contains(body, fmt.Sprintf(`"id":%d`, InstallationID)) || strings.Contains(body, fmt.Sprintf(`"id":%d`, other)) {
		t.Errorf("page 1 of installations: %d %s", status, body)
	}
	if link := header.Get("Link"); !strings.Contains(link, `rel="next"`) {
		t.Errorf("page 1 of 2 links %q", link)
	}
}

// A user's token reaches the repositories of every installation of the App
// that the user can read, as on GitHub.
func TestUserTokenReachesEveryInstallation(t *testing.T) {
	s := New(t)
	other := s.AddInstallation()
	infra := s.AddRepoIn(other, "globex", "infra")
	infra.Private = true
	tok := tokensFor(t, s, other)
	if status, _, body := getWith(t, s.URL()+"repos/globex/infra", "Bearer "+tok.user); status != 404 {
		t.Errorf("alice, no role: %d %s", status, body)
	}
	s.SetPermission(infra, "alice", "read")
	if status, _, body := getWith(t, s.URL()+"repos/globex/infra", "Bearer "+tok.user); status != 200 {
		t.Errorf("alice, read: %d %s", status, body)
	}
	if status, _, body := getWith(t, s.URL()+"repos/globex/infra", "token "+tok.installation); status != 404 {
		t.Errorf("another installation's token: %d %s", status, body)
	}
}
