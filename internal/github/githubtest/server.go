// Package githubtest is an in-process fake of the GitHub REST API and of git
// smart HTTP, for tests. It behaves as GitHub does where the bot can tell:
// JSON shapes (encoded with go-github's types), status codes, pagination with
// Link headers, rate limit headers (each installation's quota, which a test
// may set), App JWT and installation-token authentication. It records
// what was done and can inject failures.
package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// AppID is the id of the fake's GitHub App.
const AppID int64 = 424242

// InstallationID is the installation repositories are added to by default.
const InstallationID int64 = 1001

// BotLogin is the login the App's comments and check runs appear under.
const BotLogin = "stagebot[bot]"

var (
	keyOnce sync.Once
	appKey  *rsa.PrivateKey
)

// AppKey returns the fake App's private key (one per test binary: RSA key
// generation is slow).
func AppKey() *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		appKey = k
	})
	return appKey
}

// AppKeyPEM returns AppKey as GitHub hands it out (PKCS#1 PEM).
func AppKeyPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(AppKey())})
}

// Server is the fake GitHub.
type Server struct {
	srv     *httptest.Server
	gitRoot string
	workDir string

	mu            sync.Mutex
	nextID        int64
	installations map[int64]map[string]bool // id -> repos it can access
	tokens        map[string]token
	oauthCodes    map[string]oauthCode
	signedIn      string
	callbackURLs  []string // the App's registered OAuth callback URLs
	repos         map[string]*Repo
	requests      []Request
	faults        []*fault
	manifests     []map[string]any
	codes         map[string]bool
	stalls        []*stall
	teams         map[string]map[string]bool // org/slug -> members
	noMembers     bool                       // the installation lacks members: read
	quotas        map[string]*quota          // REST rate limits, by whose they are
	// now lets tests move the fake's clock (token expiry).
	now func() time.Time
}

type token struct {
	installation int64
	expires      time.Time
	// user is set on a user access token (OAuth): the login it acts for.
	user string
}

// Request is one request the fake received.
type Request struct {
	Method string
	Path   string
	Query  string
	Status int
}

// New starts a fake GitHub for the test.
func New(t testing.TB) *Server {
	t.Helper()
	s := newServer(t.TempDir(), t.TempDir())
	s.srv = httptest.NewServer(s.withAppRoutes(s.routes()))
	t.Cleanup(s.Close)
	return s
}

// Serve starts a fake GitHub outside a test (bot demo) on l, with its git
// repositories under dir. wrap, when not nil, wraps the fake's handler
// (to serve pages of its own beside the API).
func Serve(l net.Listener, dir string, wrap func(http.Handler) http.Handler) (*Server, error) {
	gitRoot, workDir := filepath.Join(dir, "git"), filepath.Join(dir, "work")
	for _, d := range []string{gitRoot, workDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	s := newServer(gitRoot, workDir)
	h := s.withAppRoutes(s.routes())
	if wrap != nil {
		h = wrap(h)
	}
	s.srv = httptest.NewUnstartedServer(h)
	s.srv.Listener.Close()
	s.srv.Listener = l
	s.srv.Start()
	return s, nil
}

func newServer(gitRoot, workDir string) *Server {
	return &Server{
		gitRoot:       gitRoot,
		workDir:       workDir,
		nextID:        1000,
		installations: map[int64]map[string]bool{InstallationID: {}},
		tokens:        map[string]token{},
		oauthCodes:    map[string]oauthCode{},
		repos:         map[string]*Repo{},
		codes:         map[string]bool{},
		now:           time.Now,
	}
}

// Close stops the server.
func (s *Server) Close() {
	s.releaseStalls()
	s.srv.Close()
}

// URL is the REST API base URL, with trailing slash (STAGEBOT_GITHUB_API_URL).
func (s *Server) URL() string { return s.srv.URL + "/" }

// Requests returns every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// RequestCount counts received requests whose method matches and whose path
// contains pathPart.
func (s *Server) RequestCount(method, pathPart string) int {
	n := 0
	for _, r := range s.Requests() {
		if r.Method == method && strings.Contains(r.Path, pathPart) {
			n++
		}
	}
	return n
}

func (s *Server) id() int64 {
	s.nextID++
	return s.nextID
}

// apiError writes GitHub's error body.
func apiError(w http.ResponseWriter, status int, msg string) {
	apiErrorDocs(w, status, msg, "")
}

// apiErrorDocs is apiError with GitHub's documentation_url of the failure
// (its REST docs when "").
func apiErrorDocs(w http.ResponseWriter, status int, msg, docs string) {
	if docs == "" {
		docs = "https://docs.github.com/rest"
	}
	writeJSON(w, status, map[string]any{
		"message":           msg,
		"documentation_url": docs,
		"status":            strconv.Itoa(status),
	})
}

// validationError writes GitHub's 422 body.
func validationError(w http.ResponseWriter, resource, field, code, msg string) {
	writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
		"message":           "Validation Failed",
		"errors":            []map[string]string{{"resource": resource, "field": field, "code": code, "message": msg}},
		"documentation_url": "https://docs.github.com/rest",
		"status":            "422",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// decodeBody decodes a JSON request body; a body that is not JSON gets
// GitHub's 400 "Problems parsing JSON".
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 10<<20)).Decode(v); err != nil {
		apiError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// paginate slices items by ?page and ?per_page as GitHub does (default 30,
// at most 100) and sets the Link header.
func paginate[T any](w http.ResponseWriter, r *http.Request, items []T) []T {
	perPage := 30
	if v, err := strconv.Atoi(r.URL.Query().Get("per_page")); err == nil && v > 0 {
		perPage = min(v, 100)
	}
	page := 1
	if v, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil && v > 0 {
		page = v
	}
	last := max((len(items)+perPage-1)/perPage, 1)
	link := func(p int, rel string) string {
		u := *r.URL
		u.Scheme, u.Host = "http", r.Host
		q := u.Query()
		q.Set("page", strconv.Itoa(p))
		q.Set("per_page", strconv.Itoa(perPage))
		u.RawQuery = q.Encode()
		return fmt.Sprintf("<%s>; rel=%q", u.String(), rel)
	}
	var links []string
	if page < last {
		links = append(links, link(page+1, "next"), link(last, "last"))
	}
	if page > 1 {
		links = append(links, link(1, "first"), link(page-1, "prev"))
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
	start := (page - 1) * perPage
	if start >= len(items) {
		return []T{}
	}
	return items[start:min(start+perPage, len(items))]
}

func pathInt(r *http.Request, name string) (int64, bool) {
	v, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	return v, err == nil && v > 0
}

func (s *Server) apiURL(r *http.Request, path string) string {
	return (&url.URL{Scheme: "http", Host: r.Host, Path: "/" + strings.TrimPrefix(path, "/")}).String()
}

// Handler returns the fake's HTTP handler, to mount it behind a prefix (as
// GitHub Enterprise serves the API under /api/v3/).
func (s *Server) Handler() http.Handler { return s.srv.Config.Handler }
