package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// heldState is Terraform's http state backend whose first read waits
// until released: a plan that stops half-way, with its init's output
// already in its log.
type heldState struct {
	mu      sync.Mutex
	state   []byte
	release chan struct{}
	once    sync.Once
}

func (s *heldState) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		select {
		case <-s.release:
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.state == nil {
			http.NotFound(w, r)
			return
		}
		w.Write(s.state)
	case http.MethodPost:
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.state = b
		s.mu.Unlock()
	default:
		w.WriteHeader(http.StatusOK)
	}
}

// navigating is an error of a page that is being replaced: try again.
func navigating(err error) bool {
	return strings.Contains(err.Error(), "Cannot find context") || strings.Contains(err.Error(), "navigated or closed")
}

// login logs user in to the dashboard with GitHub's web flow, as a browser
// without JavaScript would, and returns a client holding the session.
func login(t *testing.T, gh *githubtest.Server, public, user string) *http.Client {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	gh.RegisterCallbackURL(public + "/oauth/callback")
	gh.SignIn(user)
	resp, err := c.Get(public + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/" {
		t.Fatalf("%s's login ended at %s with %d", user, resp.Request.URL, resp.StatusCode)
	}
	return c
}

func get(t *testing.T, c *http.Client, u string) (int, string) {
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The dashboard through the binary and a headless Chromium: alice logs in
// with GitHub, follows her PR's comment to its run, watches the plan's log
// stream while Terraform runs, and releases the lock her apply took. A user
// who cannot read the repository gets 404 for all of it; forms without the
// session's CSRF token are refused; no secret reaches a page or the stream.
func TestDashboard(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: scripts/test installs the Debian package")
	}
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	repo.Private = true // mallory, who has no role, cannot read it
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "bob", "write")
	held := &heldState{release: make(chan struct{})}
	stateSrv := &http.Server{Handler: held}
	stateLn, _ := net.Listen("tcp", "127.0.0.1:0")
	go stateSrv.Serve(stateLn)
	t.Cleanup(func() { held.once.Do(func() { close(held.release) }); stateSrv.Close() })

	const token, password = "plan-token-planted-Xy7", "db-Pa55word-planted-Qz9"
	stage := fmt.Sprintf(`terraform {
  backend "http" {
    address = "http://%s/state"
  }
}
variable "token" {
  type      = string
  sensitive = true
  default   = %q
}
variable "db_password" {
  type      = string
  sensitive = true
  default   = %q
}
resource "terraform_data" "api" {
  input = "token ${nonsensitive(var.token)}"
}
resource "terraform_data" "db" {
  input = nonsensitive(var.db_password)
}
`, stateLn.Addr(), token, password)
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    "version: 1\nstages:\n  - name: infrastructure\n    dir: terraform/infrastructure\napply:\n  requirements: [approved]\n",
		"terraform/infrastructure/main.tf": "terraform {\n  backend \"local\" {}\n}\n",
	}, "init")
	addr := freeAddr(t)
	public := "http://" + addr
	env := append(autoplanEnv(gh, t.TempDir()), "STAGEBOT_LISTEN="+addr, "STAGEBOT_PUBLIC_URL="+public,
		"STAGEBOT_GITHUB_CLIENT_ID="+githubtest.ClientID, "STAGEBOT_GITHUB_CLIENT_SECRET="+githubtest.ClientSecret)
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, env)}

	// #1's plan starts and stops at reading its state: init has run.
	head := gh.Commit(repo, "pr-1", "main", map[string]string{"terraform/infrastructure/main.tf": stage}, "db")
	gh.AddPull(repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 1, "opened", 0))
	alice := login(t, gh, public, "alice")
	eventually(t, time.Minute, "#1's plan to run", func() bool {
		_, body := get(t, alice, public+"/repos/acme/platform/pulls/1")
		return strings.Contains(body, "running")
	})

	ctx := browser(t, chromium)
	gh.SignIn("alice")
	// The first Do starts the browser; it must not carry a timeout. GitHub
	// logs alice in and sends her back to the page she asked for.
	if err := chromedp.Do(ctx, chromedp.Navigate(public+"/repos/acme/platform/pulls/1")); err != nil {
		t.Fatalf("browser: %v", err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 2*time.Minute)
	defer tcancel()
	if err := chromedp.Do(tctx, chromedp.WaitVisible(`//a[text()="plan"]`)); err != nil {
		t.Fatalf("browser: no run on the PR's page: %v", err)
	}
	runPage, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.evaluate('//a[text()="plan"]', document).iterateNext().href`))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	// poll waits for a predicate on the page, through a navigation.
	poll := func(expr string) error {
		for {
			_, err := chromedp.Run(tctx, chromedp.Poll[bool](expr))
			if err == nil || !navigating(err) {
				return err
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	// The run page keeps its log's stream open: wait for what it shows,
	// not for the page to finish loading.
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`location.assign(`+strconv.Quote(runPage)+`), true`)); err != nil && !navigating(err) {
		t.Fatalf("browser: %v", err)
	}
	if err := poll(`document.getElementById("log") !== null`); err != nil {
		page, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.documentElement.outerHTML`))
		t.Fatalf("browser: %v; the page:\n%s", err, page)
	}
	text := func(sel string) string {
		v, err := chromedp.Run(tctx, chromedp.Evaluate[string](`document.querySelector(`+strconv.Quote(sel)+`).textContent`))
		if err != nil {
			t.Fatalf("browser: read %s: %v", sel, err)
		}
		return v
	}
	// Init has configured the backend and waits for the state.
	if err := poll(`document.getElementById("log").textContent.includes("Successfully configured the backend")`); err != nil {
		t.Fatalf("the init's output did not stream: %v", err)
	}
	logText, state := text("#log"), text("#state")
	if !strings.Contains(state, "running") || strings.Contains(logText, "Plan:") {
		t.Fatalf("not seen while the plan runs: state %q, log:\n%s", state, logText)
	}
	// Terraform reads its state and finishes: the rest streams in.
	held.once.Do(func() { close(held.release) })
	if err := poll(`document.getElementById("state").textContent === "succeeded"`); err != nil {
		t.Fatalf("the end of the plan did not stream: %v", err)
	}
	logText = text("#log")
	if !strings.Contains(logText, "Plan: 2 to add") || strings.Count(logText, "Successfully configured the backend") != 1 || !strings.Contains(logText, "Terraform has been successfully initialized") {
		t.Errorf("the streamed log:\n%s", logText)
	}
	if shot := os.Getenv("STAGEBOT_SCREENSHOT"); shot != "" {
		if png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100)); err == nil {
			os.WriteFile(shot, png, 0o644)
		}
	}

	// The comment links to its run's page, and the page to the PR.
	body := f.stageComment(1, "infrastructure", "+2 to add")
	link := regexp.MustCompile(regexp.QuoteMeta(public) + `/runs/[0-9a-f]+`).FindString(body)
	if status, page := get(t, alice, link); link == "" || status != 200 || !strings.Contains(page, gh.URL()+"acme/platform/pull/1") {
		t.Errorf("the comment's run link %q: %d", link, status)
	}

	// The PR's page says whether /apply would go ahead, as /apply decides.
	pull := public + "/repos/acme/platform/pulls/1"
	if _, page := get(t, alice, pull); !strings.Contains(page, "no:</span> ") || !strings.Contains(page, "the `approved` requirement is not met") {
		t.Errorf("an unapproved plan's page does not say why it cannot be applied:\n%s", page)
	}
	gh.AddReview(repo, 1, githubtest.Review{User: "bob", State: "APPROVED", CommitID: head})
	if _, page := get(t, alice, pull); !strings.Contains(page, "yes: its requirements hold") {
		t.Errorf("an approved plan's page:\n%s", page)
	}

	// alice applies: #1 holds the lock, which she releases in the browser.
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied")
	release := public + "/repos/acme/platform/locks/infrastructure/release"
	// Forms need the session's CSRF token; without a session, nothing.
	for name, c := range map[string]*http.Client{"no token": alice, "no session": {}} {
		resp, err := c.PostForm(release, url.Values{"back": {"/"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("release with %s: %d", name, resp.StatusCode)
		}
	}
	if resp, _ := alice.PostForm(release, url.Values{"csrf": {"forged"}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("release with a forged token: %d", resp.StatusCode)
	}
	if _, page := get(t, alice, pull); !strings.Contains(page, "Release lock") {
		t.Fatalf("a refused form released the lock:\n%s", page)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(pull), chromedp.Click(`//button[text()="Release lock"]`),
		chromedp.WaitVisible(`//td[contains(text(), "holds no lock")]`)); err != nil {
		t.Fatalf("release in the browser: %v", err)
	}
	after := text("main")
	eventually(t, 20*time.Second, "the PR told of the release", func() bool {
		for _, c := range gh.BotComments(repo, 1) {
			if strings.Contains(c.Body, "@alice released this pull request's lock on `infrastructure` from stagebot's dashboard") {
				return true
			}
		}
		return false
	})

	// mallory cannot read the repository: 404 for its pages, its runs and
	// their logs, and the queue; the overview lists nothing of it.
	mallory := login(t, gh, public, "mallory")
	for _, u := range []string{pull, link, link + "/log", public + "/queue/"} {
		if status, page := get(t, mallory, u); status != http.StatusNotFound || strings.Contains(page, "infrastructure") {
			t.Errorf("mallory got %d for %s", status, u)
		}
	}
	if _, page := get(t, mallory, public+"/"); strings.Contains(page, "acme/platform") {
		t.Error("mallory's overview shows acme/platform")
	}
	if status, page := get(t, alice, public+"/queue/"); status != 200 || !strings.Contains(strings.ToLower(page), "river") {
		t.Errorf("alice's queue page: %d", status)
	}
	if status, page := get(t, alice, public+"/queue/api/jobs?state=completed&limit=20"); status != 200 || !strings.Contains(page, "pull_request") {
		t.Errorf("alice's view of the jobs: %d %s", status, page)
	}
	// Changing the queue takes the maintain role: alice writes, no more.
	resp, err := alice.Post(public+"/queue/api/jobs/cancel", "application/json", strings.NewReader(`{"job_ids":["1"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("a writer cancelled a job: %d", resp.StatusCode)
	}

	// No secret in any page or stream.
	pages := []string{public + "/", pull, link, link + "/log"}
	for _, u := range pages {
		_, page := get(t, alice, u)
		for _, secret := range []string{token, password, testSecret, githubtest.ClientSecret} {
			if strings.Contains(page, secret) {
				t.Errorf("%s shows a secret:\n%s", u, page)
			}
		}
	}
	if !strings.Contains(logText, "(redacted)") {
		t.Errorf("the planted values were not in the log to redact:\n%s", logText)
	}
	if strings.Contains(logText+after, token) || strings.Contains(logText, password) {
		t.Error("the browser saw a secret")
	}
}

// River UI on a fresh install. The store knows no repository: none has a
// stagebot.yaml yet, so the PR opened on the private acme/platform ran a
// job that recorded nothing. River UI is guarded by every repository of
// every installation, as GitHub lists them, not by the store: mallory, with
// no role, and paula, who cannot read globex/infra of the second
// installation, are refused its pages and its API; rita, who reads every
// repository, sees the job but cannot retry it, nor can alice, who writes;
// mona, who maintains every one, retries it. Without GitHub's list, nobody
// gets the queue, and the failure is not remembered.
func TestDashboardQueueOnAFreshInstall(t *testing.T) {
	gh := githubtest.New(t)
	platform := gh.AddRepo("acme", "platform")
	platform.Private = true
	infra := gh.AddRepoIn(gh.AddInstallation(), "globex", "infra")
	infra.Private = true
	for user, role := range map[string]string{"rita": "read", "alice": "write", "mona": "maintain"} {
		gh.SetPermission(platform, user, role)
		gh.SetPermission(infra, user, role)
	}
	gh.SetPermission(platform, "paula", "maintain")
	base := gh.Commit(platform, "main", "", map[string]string{"README.md": "stagebot is installed; its stagebot.yaml comes next\n"}, "init")
	head := gh.Commit(platform, "pr-1", "main", map[string]string{"main.tf": "# secret plans\n"}, "plans")
	gh.AddPull(platform, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "pr-1", HeadSHA: head, BaseRef: "main", BaseSHA: base})
	addr := freeAddr(t)
	public := "http://" + addr
	env := append(autoplanEnv(gh, t.TempDir()), "STAGEBOT_LISTEN="+addr, "STAGEBOT_PUBLIC_URL="+public,
		"STAGEBOT_GITHUB_CLIENT_ID="+githubtest.ClientID, "STAGEBOT_GITHUB_CLIENT_SECRET="+githubtest.ClientSecret)
	b := startBot(t, env)
	jobs := public + "/queue/api/jobs?state=completed&limit=20"

	// GitHub refuses the App's JWT once: no list, no queue, for anyone.
	rita := login(t, gh, public, "rita")
	gh.FailNext("GET", "/app/installations", 1, githubtest.Fault{Status: http.StatusUnauthorized, Message: "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"})
	if status, page := get(t, rita, public+"/queue/"); status != http.StatusForbidden || !strings.Contains(page, "list of those repositories could not be had") {
		t.Errorf("rita's queue without GitHub's list: %d\n%s", status, page)
	}
	if status, page := get(t, rita, public+"/queue/"); status != 200 || !strings.Contains(strings.ToLower(page), "river") {
		t.Errorf("rita's queue once GitHub lists again: %d", status)
	}

	// A PR opened before stagebot.yaml: its job runs and records nothing.
	if status, body := b.deliver(t, githubtest.Delivery{Event: "pull_request", ID: "open-1", Body: gh.PullRequestPayload(platform, 1, "opened", 0), Secret: testSecret}); status != http.StatusAccepted {
		t.Fatalf("delivery: %d %s", status, body)
	}
	var job string
	eventually(t, time.Minute, "the PR's job to complete", func() bool {
		var listed struct {
			Data []struct {
				ID         int64
				Kind, Args string
			}
		}
		status, page := get(t, rita, jobs)
		if status != 200 || json.Unmarshal([]byte(page), &listed) != nil {
			return false
		}
		for _, j := range listed.Data {
			if j.Kind == "pull_request" && strings.Contains(j.Args, `"name":"platform"`) {
				job = strconv.FormatInt(j.ID, 10)
			}
		}
		return job != ""
	})
	if _, page := get(t, rita, public+"/"); strings.Contains(page, "acme/platform") {
		t.Fatal("the store knows acme/platform: this is no longer a fresh install")
	}

	for _, user := range []string{"mallory", "paula"} {
		c := login(t, gh, public, user)
		for _, u := range []string{public + "/queue/", jobs, public + "/queue/api/jobs/" + job} {
			if status, page := get(t, c, u); status != http.StatusNotFound || strings.Contains(page, "platform") {
				t.Errorf("%s got %d for %s", user, status, u)
			}
		}
	}

	// Retrying takes the maintain role in every repository.
	retry := func(c *http.Client) int {
		resp, err := c.Post(public+"/queue/api/jobs/retry", "application/json", strings.NewReader(`{"ids":["`+job+`"]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	asked := gh.RequestCount("GET", "/repos/acme/platform/pulls/1")
	for user, want := range map[string]int{"mallory": http.StatusNotFound, "paula": http.StatusNotFound, "rita": http.StatusForbidden, "alice": http.StatusForbidden} {
		if status := retry(login(t, gh, public, user)); status != want {
			t.Errorf("%s's retry: %d, want %d", user, status, want)
		}
	}
	if n := gh.RequestCount("GET", "/repos/acme/platform/pulls/1"); n != asked {
		t.Fatalf("a refused retry ran the job again")
	}
	if status := retry(login(t, gh, public, "mona")); status != http.StatusOK {
		t.Fatalf("mona's retry: %d", status)
	}
	eventually(t, time.Minute, "the retried job to run again", func() bool {
		return gh.RequestCount("GET", "/repos/acme/platform/pulls/1") > asked
	})
}
