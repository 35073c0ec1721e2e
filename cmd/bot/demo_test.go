package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// startDemo runs `bot demo` and returns the pull request's and the
// dashboard's URLs, as it prints them.
func startDemo(t *testing.T) (pull, dashboard string) {
	t.Helper()
	cmd := exec.Command(botBin, "demo", "-listen", "127.0.0.1:0", "-data-dir", t.TempDir())
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STAGEBOT_TERRAFORM_BIN=" + terraformBin()}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			t.Errorf("bot demo did not stop on SIGINT")
		}
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() && (pull == "" || dashboard == "") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "The pull request:"); ok {
			pull = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "The dashboard:"); ok {
			dashboard = strings.Fields(v)[0]
		}
	}
	if pull == "" || dashboard == "" {
		cmd.Wait()
		t.Fatalf("bot demo printed no URLs; stderr:\n%s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	return pull, strings.TrimSuffix(dashboard, "/")
}

// TestDemoInChromium is `bot demo` as a newcomer uses it, in a real
// headless Chromium: the pull request's page shows the bot's plan of one
// stage and the other waiting; a /apply typed into the page applies it;
// the dashboard (through the demo GitHub's login) shows the apply's log as
// it runs; the page then shows the applied stage and the next plan, whose
// check run's Apply button applies it.
func TestDemoInChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: scripts/test installs the Debian package")
	}
	pull, dashboard := startDemo(t)
	ctx := browser(t, chromium)
	if err := chromedp.Do(ctx, chromedp.Navigate(pull)); err != nil {
		t.Fatalf("browser: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	pageSays := func(what ...string) chromedp.Action[bool] {
		js := "true"
		for _, w := range what {
			js += " && document.body.innerText.includes(" + strconv.Quote(w) + ")"
		}
		return chromedp.Poll[bool](js, chromedp.WithPollingTimeout(90*time.Second))
	}
	if _, err := chromedp.Run(tctx, pageSays("stagebot plan: infrastructure", "~1 to change", "+1 to add", "Waiting for infrastructure", "stagebot/infrastructure")); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("the plan comments did not appear: %v\n%s", err, body)
	}
	if err := chromedp.Do(tctx, chromedp.SendKeys(`textarea[name="body"]`, "/apply"), chromedp.Click(`#new button`)); err != nil {
		t.Fatalf("comment /apply: %v", err)
	}
	// The form's post navigates: the page is polled again once it has.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := chromedp.Run(tctx, pageSays("you commented"))
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the comment is not on the page: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The dashboard: the demo's GitHub signs "you" in; the running apply's
	// page streams its log.
	var run string
	for deadline := time.Now().Add(60 * time.Second); run == "" && time.Now().Before(deadline); {
		if err := chromedp.Do(tctx, chromedp.Navigate(dashboard+"/repos/demo/platform/pulls/1")); err != nil {
			t.Fatalf("dashboard: %v", err)
		}
		run, err = chromedp.Run(tctx, chromedp.Evaluate[string](`(() => { const tr = [...document.querySelectorAll("tr")].find(tr => tr.querySelector(".run") && tr.innerText.includes("apply")); return tr ? tr.querySelector("a[href^='/runs/']").href : ""; })()`))
		if err != nil {
			t.Fatalf("dashboard: %v", err)
		}
		if run == "" {
			time.Sleep(300 * time.Millisecond)
		}
	}
	if run == "" {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("the dashboard showed no running apply:\n%s", body)
	}
	if err := chromedp.Do(tctx, chromedp.Navigate(run)); err != nil {
		t.Fatalf("run page: %v", err)
	}
	first, err := chromedp.Run(tctx, chromedp.TextContent("#log"))
	if err != nil {
		t.Fatalf("run page: %v", err)
	}
	if strings.Contains(first, "node 5 of 5 ready") {
		t.Fatalf("the apply had ended before its page opened; the test shows nothing live:\n%s", first)
	}
	if _, err := chromedp.Run(tctx, chromedp.Poll[bool](`document.getElementById("state").innerText.includes("succeeded") && document.getElementById("log").textContent.includes("node 5 of 5 ready")`, chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		log, _ := chromedp.Run(ctx, chromedp.TextContent("#log"))
		t.Fatalf("the live log did not show the apply to its end: %v\n%s", err, log)
	}

	// Back on the pull request: applied, and the waiting stage planned.
	if err := chromedp.Do(tctx, chromedp.Navigate(pull)); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Run(tctx, pageSays("stagebot applied infrastructure", "stagebot plan: tenant", "+1 to add", "terraform_data.wordpress[\"initech\"]")); err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Text("body"))
		t.Fatalf("after /apply: %v\n%s", err, body)
	}
	// The tenant's check run offers Apply, as on GitHub: pressed, it
	// applies the tenant's plan.
	if err := chromedp.Do(tctx, chromedp.Click(`[data-check="stagebot/tenant"] button[data-action="apply"]`)); err != nil {
		t.Fatalf("press Apply: %v", err)
	}
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(300 * time.Millisecond) {
		if _, err := chromedp.Run(tctx, pageSays("stagebot applied tenant")); err == nil {
			break
		} else if time.Now().After(deadline) {
			body, _ := chromedp.Run(ctx, chromedp.Text("body"))
			t.Fatalf("after pressing Apply: %v\n%s", err, body)
		}
	}
}
