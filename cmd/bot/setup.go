package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	gogithub "github.com/google/go-github/v60/github"
	"go.yaml.in/yaml/v3"

	"github.com/stagebot/stagebot"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
)

// storedApp is what setup keeps in the data dir; `bot serve` reads it when
// the settings do not name an App.
type storedApp struct {
	AppID         int64  `json:"app_id"`
	Slug          string `json:"slug"`
	WebhookSecret string `json:"webhook_secret"`
	HTMLURL       string `json:"html_url"`
	// ClientID and ClientSecret log users in to the dashboard.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

const (
	storedAppFile = "github-app.json"
	storedKeyFile = "github-app.pem"
)

// loadStoredApp fills the App settings from the data dir when none are set.
func loadStoredApp(s *config.Settings) error {
	if s.GitHubAppID != 0 || s.GitHubPrivateKey != "" || s.GitHubPrivateKeyFile != "" || s.GitHubWebhookSecret != "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(s.DataDir, storedAppFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var app storedApp
	if err := json.Unmarshal(b, &app); err != nil {
		return fmt.Errorf("%s in the data dir is damaged: run bot setup again", storedAppFile)
	}
	s.GitHubAppID, s.GitHubWebhookSecret = app.AppID, app.WebhookSecret
	s.GitHubPrivateKeyFile = filepath.Join(s.DataDir, storedKeyFile)
	if s.GitHubClientID == "" && s.GitHubClientSecret == "" {
		s.GitHubClientID, s.GitHubClientSecret = app.ClientID, app.ClientSecret
	}
	return nil
}

// setup registers the GitHub App through GitHub's manifest flow: a page
// that posts the manifest to GitHub's "new App" form, and the callback that
// turns GitHub's code into the App's id, key and webhook secret.
func setup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot setup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	listen := fs.String("listen", envOr("listen", ":8080"), "address to serve the setup page on")
	public := fs.String("public-url", "", "the URL GitHub reaches this deployment at, e.g. https://stagebot.example.com (required)")
	webURL := fs.String("github-url", "https://github.com", "GitHub's web URL (GitHub Enterprise: https://HOST)")
	apiURL := fs.String("github-api-url", envOr("github-api-url", "https://api.github.com/"), "GitHub's REST API URL")
	org := fs.String("org", "", "create the App in this organization instead of your account")
	dataDir := fs.String("data-dir", envOr("data-dir", "./data"), "where the credentials are stored (mode 0600)")
	printCreds := fs.Bool("print", false, "print the credentials as an env file (bot serve -env-file, or a shell's set -a; . FILE) instead of storing them")
	printSecret := fs.Bool("print-secret", false, "print the credentials as the Kubernetes Secret the chart reads (stagebot-github) instead of storing them")
	if err := flagsParsed(fs, fs.Parse(args), stdout, stderr); err != nil {
		return err
	}
	pub, err := url.Parse(*public)
	if *public == "" || err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return usageError{"bot setup: --public-url must be the deployment's http(s) URL"}
	}
	api, err := gh.ParseAPIURL(*apiURL)
	if err != nil {
		return usageError{"bot setup: --github-api-url: " + err.Error()}
	}
	if _, err := os.Stat(filepath.Join(*dataDir, storedAppFile)); err == nil {
		return fmt.Errorf("bot setup: %s already holds a GitHub App (%s); setup is off. Remove it to register another", *dataDir, storedAppFile)
	}
	manifest, err := fillManifest(stagebot.AppManifest, strings.TrimSuffix(pub.String(), "/"))
	if err != nil {
		return err
	}
	state := make([]byte, 16)
	rand.Read(state)
	st := &setupServer{
		manifest: manifest, state: hex.EncodeToString(state),
		newAppURL: strings.TrimSuffix(*webURL, "/") + "/settings/apps/new",
		apiURL:    api,
		dataDir:   *dataDir, stdout: stdout, done: make(chan struct{}),
	}
	switch {
	case *printCreds && *printSecret:
		return usageError{"bot setup: -print and -print-secret: choose one"}
	case *printCreds:
		st.print = envFile
	case *printSecret:
		st.print = secretManifest
	}
	if *org != "" {
		st.newAppURL = strings.TrimSuffix(*webURL, "/") + "/organizations/" + url.PathEscape(*org) + "/settings/apps/new"
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("bot setup: listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: st.routes(), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	fmt.Fprintf(stderr, "stagebot setup: open http://%s/ in a browser (reachable as %s)\n", ln.Addr(), *public)
	select {
	case <-ctx.Done():
	case <-st.done:
		time.Sleep(500 * time.Millisecond) // let the success page go out
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		srv.Close() // a browser may keep its connection open; setup is done
	}
	return nil
}

// fillManifest puts this deployment's URLs into the manifest, as JSON.
func fillManifest(yml []byte, public string) (string, error) {
	var m map[string]any
	if err := yaml.Unmarshal(yml, &m); err != nil {
		return "", fmt.Errorf("app-manifest.yml: %w", err)
	}
	hook, _ := m["hook_attributes"].(map[string]any)
	if hook == nil {
		hook = map[string]any{}
	}
	hook["url"] = public + "/webhooks/github"
	m["hook_attributes"] = hook
	m["redirect_url"] = public + "/setup/callback"
	// The dashboard's login: GitHub sends users back only to a registered
	// callback URL.
	m["callback_urls"] = []string{public + "/oauth/callback"}
	b, err := json.Marshal(m)
	return string(b), err
}

type setupServer struct {
	manifest, state, newAppURL, dataDir string
	apiURL                              *url.URL
	print                               func(storedApp, string) string
	stdout                              io.Writer
	mu                                  sync.Mutex
	finished                            bool
	done                                chan struct{}
}

var setupPage = template.Must(template.New("setup").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>stagebot setup</title></head>
<body>
<h1>Register stagebot as a GitHub App</h1>
<p>GitHub will ask you to confirm the App's name; it gets only the permissions stagebot uses:
pull requests, issues and checks (write), contents, metadata and organization members (read).</p>
<form id="register" method="post" action="{{.Action}}">
<input type="hidden" name="manifest" value="{{.Manifest}}">
<button id="create" type="submit">Create the GitHub App</button>
</form>
</body></html>`))

var donePage = template.Must(template.New("done").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>stagebot is set up</title></head>
<body>
<h1 id="done">stagebot is set up</h1>
<p>GitHub App <b>{{.Slug}}</b> (id {{.ID}}) was created. {{.Where}}</p>
<p>Next: <a href="{{.Install}}">install the App on your repositories</a>, then run <code>bot serve</code>.</p>
</body></html>`))

func (s *setupServer) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		if s.isFinished() {
			http.Error(w, "stagebot is already set up: this page is off", http.StatusGone)
			return
		}
		setupPage.Execute(w, map[string]string{"Action": s.newAppURL + "?state=" + s.state, "Manifest": s.manifest})
	})
	mux.HandleFunc("GET /setup/callback", s.callback)
	return mux
}

func (s *setupServer) isFinished() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.finished
}

func (s *setupServer) callback(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.finished {
		http.Error(w, "stagebot is already set up: this callback is off", http.StatusGone)
		return
	}
	code, state := r.URL.Query().Get("code"), r.URL.Query().Get("state")
	if subtle.ConstantTimeCompare([]byte(state), []byte(s.state)) != 1 || code == "" {
		http.Error(w, "this callback was not started from this setup page", http.StatusBadRequest)
		return
	}
	app, pem, err := s.convert(r.Context(), code)
	if err != nil {
		http.Error(w, "GitHub did not hand out the App's credentials: "+err.Error(), http.StatusBadGateway)
		return
	}
	where := fmt.Sprintf("Its credentials are stored in %s (mode 0600).", s.dataDir)
	if s.print != nil {
		io.WriteString(s.stdout, s.print(app, pem))
		where = "Its credentials were printed where bot setup runs."
	} else if err := s.store(app, pem); err != nil {
		http.Error(w, "could not store the credentials: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.finished = true
	close(s.done)
	donePage.Execute(w, map[string]any{"Slug": app.Slug, "ID": app.AppID, "Where": where, "Install": app.HTMLURL + "/installations/new"})
}

// envFile is the App's settings as an env file: one KEY='value' a line, so
// that a shell sources it and `bot serve -env-file` reads it; the key is on
// one line with "\n" for its line breaks. A value that would end its quotes
// is refused: sourced, it would run as a command.
func envFile(app storedApp, pem string) string {
	for _, v := range []string{app.WebhookSecret, app.ClientID, app.ClientSecret, pem} {
		if strings.Contains(v, "'") {
			return "# bot setup: GitHub handed out a credential with a quote in it; not printed as an env file: use --print-secret or store it (no --print)\n"
		}
	}
	return fmt.Sprintf("# stagebot's GitHub App (bot setup). Secret: keep it mode 0600.\n"+
		"STAGEBOT_GITHUB_APP_ID=%d\nSTAGEBOT_GITHUB_WEBHOOK_SECRET='%s'\nSTAGEBOT_GITHUB_PRIVATE_KEY='%s'\nSTAGEBOT_GITHUB_CLIENT_ID='%s'\nSTAGEBOT_GITHUB_CLIENT_SECRET='%s'\n",
		app.AppID, app.WebhookSecret, strings.ReplaceAll(strings.TrimSpace(pem), "\n", `\n`), app.ClientID, app.ClientSecret)
}

// secretManifest is the Secret the chart reads (github.existingSecret and
// its keys), for kubectl apply -n NAMESPACE -f -.
func secretManifest(app storedApp, pem string) string {
	doc := map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
		"metadata": map[string]any{"name": "stagebot-github"},
		"stringData": map[string]string{
			"private-key.pem": strings.TrimSpace(pem) + "\n",
			"webhook-secret":  app.WebhookSecret,
			"client-id":       app.ClientID,
			"client-secret":   app.ClientSecret,
		},
	}
	b, _ := yaml.Marshal(doc)
	return fmt.Sprintf("# stagebot's GitHub App (bot setup), as the chart reads it; app id %d is the chart's github.appId.\n%s", app.AppID, b)
}

// convert exchanges the manifest code for the App (POST
// /app-manifests/{code}/conversions). The code is the credential, and
// go-github's errors quote the URL it is in: only the status is said.
func (s *setupServer) convert(ctx context.Context, code string) (storedApp, string, error) {
	client := gogithub.NewClient(&http.Client{Timeout: 30 * time.Second})
	client.BaseURL = s.apiURL
	// go-github puts the code in the path as it is.
	app, resp, err := client.Apps.CompleteAppManifest(ctx, url.PathEscape(code))
	switch {
	case resp == nil && err != nil:
		return storedApp{}, "", errors.New("GitHub could not be reached")
	case resp.StatusCode != http.StatusCreated:
		return storedApp{}, "", fmt.Errorf("GitHub answered %d", resp.StatusCode)
	case err != nil || app.GetID() == 0 || app.GetPEM() == "":
		return storedApp{}, "", errors.New("GitHub's answer is not an App")
	}
	return storedApp{AppID: app.GetID(), Slug: app.GetSlug(), WebhookSecret: app.GetWebhookSecret(), HTMLURL: app.GetHTMLURL(),
		ClientID: app.GetClientID(), ClientSecret: app.GetClientSecret()}, app.GetPEM(), nil
}

func (s *setupServer) store(app storedApp, pem string) error {
	if err := os.MkdirAll(s.dataDir, 0o700); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(s.dataDir, storedKeyFile), []byte(pem), 0o600); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(app, "", "  ")
	return os.WriteFile(filepath.Join(s.dataDir, storedAppFile), b, 0o600)
}
