package main

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

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
	addr := freeAddr(t)
	args := append([]string{"setup", "--listen", addr, "--public-url", "http://" + addr, "--github-url", strings.TrimSuffix(gh.URL(), "/"),
		"--github-api-url", gh.URL(), "--data-dir", data}, extra...)
	cmd := exec.Command(botBin, args...)
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
	setupCmd, url := startSetup(t, gh, data)

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
	if hook["url"] != url+"/webhooks/github" || m[0]["redirect_url"] != url+"/setup/callback" || m[0]["public"] != false ||
		perms["checks"] != "write" || perms["contents"] != "read" || perms["members"] != "read" || len(perms) != 6 {
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
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + data, "STAGEBOT_LISTEN=127.0.0.1:0", "STAGEBOT_DATA_DIR=" + data, "STAGEBOT_GITHUB_API_URL=" + gh.URL(), "STAGEBOT_SANDBOX=none",
		"STAGEBOT_PUBLIC_URL=https://stagebot.example.com"}
	b := startBot(t, env)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if resp, err := noFollow.Get(b.URL + "/login"); err != nil || !strings.HasPrefix(resp.Header.Get("Location"), gh.URL()+"login/oauth/authorize?client_id="+githubtest.ClientID+"&") {
		t.Errorf("the dashboard's login does not use the stored client id: %v %v", resp, err)
	}
	resp, err := http.DefaultClient.Do(githubtest.Delivery{Event: "ping", ID: "p1", Body: []byte(`{"zen":"x"}`), Secret: githubtest.WebhookSecretOfApp}.Request(b.URL + "/webhooks/github"))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("signed ping: %v %v", resp, err)
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
