package main

import (
	"bufio"
	"context"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startSetup runs `bot setup` against the fake GitHub and waits until it
// serves its page.
func startSetup(t *testing.T, gh *githubtest.Server, data string, extra ...string) (*exec.Cmd, string) {
	return startSetupAt(t, gh, data, freeAddr(t), extra...)
}

// startSetupAt is startSetup listening on addr, which is also its public URL
// (as the deployment's, where bot serve answers later).
func startSetupAt(t *testing.T, gh *githubtest.Server, data, addr string, extra ...string) (*exec.Cmd, string) {
	return runSetup(t, gh, data, addr, nil, extra...)
}

// runSetup is startSetupAt with setup's stdout (what --print prints) going
// to stdout.
func runSetup(t *testing.T, gh *githubtest.Server, data, addr string, stdout io.Writer, extra ...string) (*exec.Cmd, string) {
	args := append([]string{"setup", "--listen", addr, "--public-url", "http://" + addr, "--github-url", strings.TrimSuffix(gh.URL(), "/"),
		"--github-api-url", gh.URL(), "--data-dir", data}, extra...)
	cmd := exec.Command(botBin, args...)
	cmd.Stdout = stdout
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "open http://") {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, "http://" + addr
		}
	}
	t.Fatal("bot setup did not start")
	return nil, ""
}

// browser is a headless Chromium of its own, closed with the test.
func browser(t *testing.T, chromium string) context.Context {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	return ctx
}

// TestSetupInChromium registers the App the way a person does: a real
// headless Chromium opens the setup page and clicks the button; the fake
// GitHub takes the manifest and redirects back with a code.
func TestSetupInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: scripts/test installs the Debian package")
	}
	gh := githubtest.New(t)
	data := t.TempDir()
	// Setup runs where the bot will answer: the public URL it registers is
	// the dashboard's too.
	addr := freeAddr(t)
	setupCmd, url := startSetupAt(t, gh, data, addr)

	ctx := browser(t, chromium)
	// The first Do starts the browser; it must not carry a timeout.
	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 60*time.Second)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.Click("#create"), chromedp.WaitVisible("#done")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	done, err := chromedp.Run(tctx, chromedp.Text("#done"))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	if done != "stagebot is set up" {
		t.Errorf("final page says %q", done)
	}
	// The manifest GitHub got: this deployment's URLs, only what the bot uses.
	m := gh.Manifests()
	if len(m) != 1 {
		t.Fatalf("%d manifests posted", len(m))
	}
	hook := m[0]["hook_attributes"].(map[string]any)
	perms := m[0]["default_permissions"].(map[string]any)
	callbacks, _ := m[0]["callback_urls"].([]any)
	if hook["url"] != url+"/webhooks/github" || m[0]["redirect_url"] != url+"/setup/callback" || m[0]["public"] != false ||
		perms["checks"] != "write" || perms["contents"] != "read" || perms["members"] != "read" || len(perms) != 6 ||
		len(callbacks) != 1 || callbacks[0] != url+"/oauth/callback" {
		t.Errorf("manifest = %v", m[0])
	}
	// Credentials are stored 0600 and setup ends.
	for _, f := range []string{storedAppFile, storedKeyFile} {
		st, err := os.Stat(filepath.Join(data, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st, err)
		}
	}
	waitExit(t, setupCmd)
	// Setup is off once there are credentials.
	out, err := exec.Command(botBin, "setup", "--public-url", "http://x", "--data-dir", data).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "setup is off") {
		t.Errorf("second setup: %v %s", err, out)
	}
	// bot serve starts from what setup stored, and takes webhooks signed
	// with the secret GitHub handed out.
	// Its dashboard logs users in with the App's OAuth credentials.
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data, "STAGEBOT_LISTEN=" + addr, "STAGEBOT_DATA_DIR=" + data, "STAGEBOT_GITHUB_API_URL=" + gh.URL(), "STAGEBOT_SANDBOX=none",
		"STAGEBOT_PUBLIC_URL=" + url}
	b := startBot(t, env)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(b.URL + "/login"); err != nil || !strings.HasPrefix(resp.Header.Get("Location"), gh.URL()+"login/oauth/authorize?client_id="+githubtest.ClientID+"&") {
		t.Errorf("the dashboard's login does not use the stored client id: %v %v", resp, err)
	}
	resp, err := http.DefaultClient.Do(githubtest.Delivery{Event: "ping", ID: "p1", Body: []byte(`{"zen":"x"}`), Secret: githubtest.WebhookSecretOfApp}.Request(b.URL + "/webhooks/github"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed ping: %v %v", resp, err)
	}
	// The whole login in the browser: GitHub knows the callback URL setup
	// registered, and sends alice back to the dashboard with a code.
	gh.SignIn("alice")
	if err := chromedp.Do(tctx, chromedp.Navigate(url+"/"), chromedp.WaitVisible(`//header//span[text()="alice"]`)); err != nil {
		t.Fatalf("browser: the dashboard login through GitHub did not end with alice logged in: %v", err)
	}
	// A deployment at another URL is not among the App's callback URLs:
	// GitHub refuses to send a code there, and the dashboard says why.
	otherData := t.TempDir()
	for _, f := range []string{storedAppFile, storedKeyFile} {
		b, _ := os.ReadFile(filepath.Join(data, f))
		os.WriteFile(filepath.Join(otherData, f), b, 0o600)
	}
	other := startBot(t, append(append([]string(nil), env[:2]...), "STAGEBOT_LISTEN=127.0.0.1:0", "STAGEBOT_DATA_DIR="+otherData, "STAGEBOT_GITHUB_API_URL="+gh.URL(), "STAGEBOT_SANDBOX=none",
		"STAGEBOT_PUBLIC_URL=http://localhost:"+strings.Split(addr, ":")[1]))
	resp, err = noFollow.Get(other.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	authorize := resp.Header.Get("Location")
	resp, err = noFollow.Get(authorize)
	if err != nil {
		t.Fatal(err)
	}
	back := resp.Header.Get("Location")
	if !strings.HasPrefix(back, url+"/oauth/callback?") || !strings.Contains(back, "error=redirect_uri_mismatch") || strings.Contains(back, "code=") {
		t.Errorf("GitHub sent a login for an unregistered callback to %q", back)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(other.URL+"/login")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	page, err := chromedp.Run(tctx, chromedp.Text("body"))
	if err != nil || !strings.Contains(page, "redirect_uri_mismatch") || !strings.Contains(page, "callback URLs") {
		t.Errorf("the refused login says %q (%v)", page, err)
	}
	var app storedApp
	raw, _ := os.ReadFile(filepath.Join(data, storedAppFile))
	json.Unmarshal(raw, &app)
	if app.AppID != githubtest.AppID || app.ClientID != githubtest.ClientID || app.ClientSecret != githubtest.ClientSecret || strings.Contains(string(raw), "PRIVATE KEY") {
		t.Errorf("stored app = %s", raw)
	}
}

func waitExit(t *testing.T, cmd *exec.Cmd) {
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("bot setup exited: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("bot setup did not end after registering the App")
	}
}

func TestSetupCallbackNeedsItsState(t *testing.T) {
	gh := githubtest.New(t)
	_, url := startSetup(t, gh, t.TempDir())
	for _, q := range []string{"", "?code=abc", "?code=abc&state=forged"} {
		resp, err := http.Get(url + "/setup/callback" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("callback%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// setupForm reads setup's page as a browser would: the form's action
// (GitHub's "new App" form, with setup's state) and the manifest it posts.
func setupForm(t *testing.T, setupURL string) (action, manifest string) {
	t.Helper()
	resp, err := http.Get(setupURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	form := regexp.MustCompile(`action="([^"]+)"[\s\S]*name="manifest" value="([^"]*)"`).FindSubmatch(page)
	if form == nil {
		t.Fatalf("setup page has no form:\n%s", page)
	}
	return html.UnescapeString(string(form[1])), html.UnescapeString(string(form[2]))
}

// A code GitHub does not take (used, expired, forged behind a good state)
// ends the callback in a 502 that says GitHub's status and not the code,
// which is a credential; the code reaches GitHub as one path segment.
func TestSetupCallbackWithACodeGitHubRefuses(t *testing.T) {
	gh := githubtest.New(t)
	_, setupURL := startSetup(t, gh, t.TempDir())
	action, _ := setupForm(t, setupURL)
	u, err := url.Parse(action)
	if err != nil {
		t.Fatal(err)
	}
	const code = "forged-code/../x?y"
	resp, err := http.Get(setupURL + "/setup/callback?" + url.Values{"code": {code}, "state": {u.Query().Get("state")}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "GitHub answered 404") || strings.Contains(string(body), "forged-code") {
		t.Errorf("callback: %d %s", resp.StatusCode, body)
	}
	reqs := gh.Requests()
	if last := reqs[len(reqs)-1]; last.Method != http.MethodPost || last.Path != "/app-manifests/"+code+"/conversions" || last.Query != "" {
		t.Errorf("GitHub got %+v", last)
	}
}

// registerApp runs `bot setup` with args, registers the App as a browser
// without JavaScript would (the setup page's form posted to the fake
// GitHub, redirects followed back to the callback), and returns what setup
// printed.
func registerApp(t *testing.T, gh *githubtest.Server, args ...string) string {
	t.Helper()
	var stdout strings.Builder
	cmd, setupURL := runSetup(t, gh, t.TempDir(), freeAddr(t), &stdout, args...)
	action, manifest := setupForm(t, setupURL)
	resp, err := http.PostForm(action, url.Values{"manifest": {manifest}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("registering: %v %v", resp, err)
	}
	resp.Body.Close()
	waitExit(t, cmd)
	return stdout.String()
}

// What `bot setup --print` prints is an env file as it is: a shell sources
// it and bot serve starts; bot serve -env-file reads it. `--print-secret`
// prints the Secret the chart reads, every key of it.
func TestSetupPrintsWhatServeAndTheChartRead(t *testing.T) {
	gh := githubtest.New(t)
	envFile := filepath.Join(t.TempDir(), "stagebot.env")
	if err := os.WriteFile(envFile, []byte(registerApp(t, gh, "--print")), 0o600); err != nil {
		t.Fatal(err)
	}
	base := func(data string) []string {
		return []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data, "STAGEBOT_LISTEN=127.0.0.1:0", "STAGEBOT_DATA_DIR=" + data,
			"STAGEBOT_GITHUB_API_URL=" + gh.URL(), "STAGEBOT_SANDBOX=none", "STAGEBOT_PUBLIC_URL=https://stagebot.example.com"}
	}
	sourced := exec.Command("sh", "-c", `set -a; . "$1"; set +a; exec "$2" serve`, "sh", envFile, botBin)
	for name, b := range map[string]*bot{
		"sourced by a shell":    startBotCmd(t, sourced, base(t.TempDir())),
		"bot serve -env-file":   startBotCmd(t, exec.Command(botBin, "serve", "-env-file", envFile), base(t.TempDir())),
		"bot serve --env-file=": startBotCmd(t, exec.Command(botBin, "serve", "--env-file="+envFile), base(t.TempDir())),
	} {
		resp, err := http.DefaultClient.Do(githubtest.Delivery{Event: "ping", ID: "p-" + name, Body: []byte(`{"zen":"x"}`), Secret: githubtest.WebhookSecretOfApp}.Request(b.URL + "/webhooks/github"))
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Errorf("%s: a ping signed with the App's secret: %v %v", name, resp, err)
		}
		noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		if resp, err := noFollow.Get(b.URL + "/login"); err != nil || !strings.Contains(resp.Header.Get("Location"), "client_id="+githubtest.ClientID) {
			t.Errorf("%s: the dashboard has no client id: %v %v", name, resp, err)
		}
		if strings.Contains(b.Logs(), "PRIVATE KEY") || strings.Contains(b.Logs(), githubtest.ClientSecret) {
			t.Errorf("%s: a credential is in the log", name)
		}
	}

	var secret struct {
		Kind     string
		Metadata struct{ Name string }
		Data     map[string]string `json:"stringData"`
	}
	if err := sigsyaml.Unmarshal([]byte(registerApp(t, gh, "--print-secret")), &secret); err != nil {
		t.Fatal(err)
	}
	values, _ := os.ReadFile("../../deploy/chart/stagebot/values.yaml")
	var chart struct {
		GitHub map[string]any `json:"github"`
	}
	sigsyaml.Unmarshal(values, &chart)
	if secret.Kind != "Secret" || secret.Metadata.Name != chart.GitHub["existingSecret"] {
		t.Errorf("printed %s %q, the chart reads Secret %v", secret.Kind, secret.Metadata.Name, chart.GitHub["existingSecret"])
	}
	for _, k := range []string{"privateKeyKey", "webhookSecretKey", "clientIdKey", "clientSecretKey"} {
		if key, _ := chart.GitHub[k].(string); secret.Data[key] == "" {
			t.Errorf("the printed Secret has no %s (the chart's github.%s)", key, k)
		}
	}
	if _, err := config.ParsePrivateKey([]byte(secret.Data["private-key.pem"])); err != nil {
		t.Errorf("the printed key: %v", err)
	}
}
