package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
	gogithub "github.com/google/go-github/v60/github"
)

// Tokens live an hour, as GitHub's installation tokens do.
const tokenLifetime = time.Hour

// createToken is POST /app/installations/{id}/access_tokens: it takes the
// App's JWT (appJWT).
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	if !s.appJWT(w, r) {
		return
	}
	now := s.now()
	id, ok := pathInt(r, "id")
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.installations[id]; !ok || !exists {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	b := make([]byte, 18)
	rand.Read(b)
	tok := "ghs_" + hex.EncodeToString(b)
	exp := now.Add(tokenLifetime)
	s.tokens[tok] = token{installation: id, expires: exp}
	writeJSON(w, http.StatusCreated, gogithub.InstallationToken{
		Token:     gogithub.String(tok),
		ExpiresAt: &gogithub.Timestamp{Time: exp.UTC().Truncate(time.Second)},
		Permissions: &gogithub.InstallationPermissions{
			PullRequests: gogithub.String("write"), Issues: gogithub.String("write"),
			Checks: gogithub.String("write"), Contents: gogithub.String("read"), Metadata: gogithub.String("read"),
			Members: gogithub.String("read"),
		},
	})
}

// appJWT authenticates a request as the App, as GitHub does: it accepts
// only an RS256 JWT signed by the App's key, issued by the App, not expired
// and not valid for more than ten minutes (GitHub's limit); anything else
// is answered 401.
func (s *Server) appJWT(w http.ResponseWriter, r *http.Request) bool {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return false
	}
	claims := &jwt.RegisteredClaims{}
	parser := jwt.NewParser(jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if _, err := parser.ParseWithClaims(raw, claims, func(*jwt.Token) (any, error) { return &AppKey().PublicKey, nil }); err != nil {
		apiError(w, http.StatusUnauthorized, "A JSON web token could not be decoded")
		return false
	}
	now := s.now()
	switch {
	case claims.ExpiresAt == nil || !claims.ExpiresAt.After(now):
		apiError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires")
	case claims.ExpiresAt.Sub(now) > 10*time.Minute+30*time.Second:
		apiError(w, http.StatusUnauthorized, "'Expiration time' claim ('exp') is too far in the future")
	case claims.IssuedAt == nil || claims.IssuedAt.After(now.Add(30*time.Second)):
		apiError(w, http.StatusUnauthorized, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued")
	case claims.Issuer != strconv.FormatInt(AppID, 10):
		apiError(w, http.StatusUnauthorized, "Integration not found")
	default:
		return true
	}
	return false
}

// installationFor returns the installation of a valid token, or 0. Caller
// holds s.mu.
func (s *Server) installationFor(tok string) int64 {
	t, ok := s.tokens[tok]
	if !ok || !t.expires.After(s.now()) {
		return 0
	}
	return t.installation
}

// tokenOf is the token a request carries, as "token X" or "Bearer X".
func tokenOf(r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(auth, "token "); ok {
		return tok, true
	}
	return strings.CutPrefix(auth, "Bearer ")
}

// requireRepo authenticates an API request for a repository the way GitHub
// does: no token is 401, a bad or expired one 401 "Bad credentials", and a
// repository the installation cannot see is 404, as if it did not exist.
// It returns the repository with s.mu held; the caller must unlock.
func (s *Server) requireRepo(w http.ResponseWriter, r *http.Request) (*Repo, bool) {
	tok, ok := tokenOf(r)
	if !ok || tok == "" {
		apiError(w, http.StatusUnauthorized, "Requires authentication")
		return nil, false
	}
	s.mu.Lock()
	inst := s.installationFor(tok)
	if inst == 0 {
		s.mu.Unlock()
		apiError(w, http.StatusUnauthorized, "Bad credentials")
		return nil, false
	}
	key := strings.ToLower(r.PathValue("owner") + "/" + r.PathValue("repo"))
	repo, exists := s.repos[key]
	// An installation's token reaches its repositories. A user's token
	// reaches what any installation of the App and the user both reach; a
	// repository the user cannot read is not found.
	reach := exists && s.installations[inst][key]
	if user := s.tokens[tok].user; exists && user != "" {
		reach = s.installed(key) && s.roleOf(repo, user) != "none"
	}
	if !reach {
		s.mu.Unlock()
		apiError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return repo, true
}

// ExpireTokens makes every installation token issued so far invalid, as
// when an hour has passed.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.tokens {
		t.expires = s.now().Add(-time.Second)
		s.tokens[k] = t
	}
}
