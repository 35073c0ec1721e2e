package githubtest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Manifests returns the App manifests posted to the "new App" form.
func (s *Server) Manifests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.manifests...)
}

// WebhookSecretOfApp is the webhook secret the fake hands out when an App
// is created from a manifest.
const WebhookSecretOfApp = "whsec-from-manifest-flow"

// newApp is GitHub's web form for creating an App from a manifest: it takes
// the manifest (form field "manifest"), and, once the user confirms (at
// once here), redirects to the manifest's redirect_url with a one-time code
// and the state it was given.
func (s *Server) newApp(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.PostForm.Get("manifest")), &m); err != nil {
		http.Error(w, "Invalid GitHub App configuration: the manifest is not JSON", http.StatusUnprocessableEntity)
		return
	}
	hook, _ := m["hook_attributes"].(map[string]any)
	redirect, _ := m["redirect_url"].(string)
	if m["url"] == nil || hook == nil || hook["url"] == nil || redirect == "" {
		http.Error(w, "Invalid GitHub App configuration: url, hook_attributes.url and redirect_url are required", http.StatusUnprocessableEntity)
		return
	}
	b := make([]byte, 10)
	rand.Read(b)
	code := hex.EncodeToString(b)
	s.mu.Lock()
	s.manifests = append(s.manifests, m)
	s.codes[code] = true
	if urls, ok := m["callback_urls"].([]any); ok {
		for _, u := range urls {
			if u, ok := u.(string); ok {
				s.callbackURLs = append(s.callbackURLs, u)
			}
		}
	}
	s.mu.Unlock()
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, "bad redirect_url", http.StatusUnprocessableEntity)
		return
	}
	q := u.Query()
	q.Set("code", code)
	if st := r.URL.Query().Get("state"); st != "" {
		q.Set("state", st)
	}
	u.RawQuery = q.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// convertManifest is POST /app-manifests/{code}/conversions: a code is good
// once, and buys the App's id, key and webhook secret. The answer is
// GitHub's 201: the App as registered from its manifest, with its secrets.
func (s *Server) convertManifest(w http.ResponseWriter, r *http.Request) {
	code := r.PathValue("code")
	s.mu.Lock()
	ok := s.codes[code]
	delete(s.codes, code)
	var m map[string]any
	if n := len(s.manifests); n > 0 {
		m = s.manifests[n-1]
	}
	now := s.now().UTC().Format(time.RFC3339)
	s.mu.Unlock()
	if !ok {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	name, _ := m["name"].(string)
	slug := strings.ToLower(strings.ReplaceAll(name, " ", "-"))
	events := m["default_events"]
	if events == nil {
		events = []any{}
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"id":             AppID,
		"slug":           slug,
		"node_id":        "A_test",
		"owner":          map[string]any{"login": "acme", "type": "Organization"},
		"name":           name,
		"description":    m["description"],
		"external_url":   m["url"],
		"html_url":       "https://github.com/apps/" + slug,
		"created_at":     now,
		"updated_at":     now,
		"permissions":    m["default_permissions"],
		"events":         events,
		"client_id":      ClientID,
		"client_secret":  ClientSecret,
		"webhook_secret": WebhookSecretOfApp,
		"pem":            string(AppKeyPEM()),
	})
}
