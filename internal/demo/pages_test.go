package demo

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

func startDemo(t *testing.T) *Demo {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Start(l, t.TempDir(), map[string]string{"README.md": "demo\n"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	if err := d.OpenPR(t.Context(), "A change", map[string]string{"main.tf": "# change\n"}); err == nil {
		t.Fatal("a pull request opened with no bot to tell: want an error")
	}
	return d
}

func get(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A comment renders as GitHub renders it, with what runs taken out: a
// plan's output is a pull request author's text, and so is a comment.
func TestCommentsRenderWithoutScripts(t *testing.T) {
	d := startDemo(t)
	d.GH.AddComment(d.Repo, 1, "mallory", "<details><summary>Plan</summary>\n\n```\n+ terraform_data.x\n```\n</details>\n\n"+
		"<script>alert(1)</script><img src=x onerror=alert(2)><a href=\"javascript:alert(3)\">x</a><iframe src=\"https://evil.example\"></iframe>")
	status, body := get(t, d.PullURL(1)+"/timeline")
	if status != http.StatusOK {
		t.Fatalf("timeline: %d %s", status, body)
	}
	if !strings.Contains(body, "<details><summary>Plan</summary>") || !strings.Contains(body, "+ terraform_data.x") {
		t.Errorf("the comment's details block is not rendered:\n%s", body)
	}
	for _, bad := range []string{"<script>alert", "onerror", "javascript:", "<iframe"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page carries %q:\n%s", bad, body)
		}
	}
	status, _ = get(t, d.URL+"/demo/platform/pull/2")
	if status != http.StatusNotFound {
		t.Errorf("a pull request that does not exist: %d", status)
	}
}

// Another site cannot comment /apply through the browser of someone
// running the demo: only the page's own form posts.
func TestCommentsOnlyFromThePage(t *testing.T) {
	d := startDemo(t)
	post := func(origin, site string, token string) int {
		req, _ := http.NewRequest(http.MethodPost, d.PullURL(1)+"/comments", strings.NewReader(url.Values{"body": {"/apply"}, "token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := post("https://evil.example", "cross-site", d.formToken); got != http.StatusForbidden {
		t.Errorf("a cross-site post: %d", got)
	}
	if got := post("", "same-site", d.formToken); got != http.StatusForbidden {
		t.Errorf("a same-site (another port's) post: %d", got)
	}
	if got := post("", "", ""); got != http.StatusForbidden {
		t.Errorf("a post without the page's token: %d", got)
	}
	if n := len(d.GH.Comments(d.Repo, 1)); n != 0 {
		t.Fatalf("refused posts left %d comments", n)
	}
	_, page := get(t, d.PullURL(1))
	if !strings.Contains(page, `name="token" value="`+d.formToken+`"`) {
		t.Fatalf("the page's form lacks its token:\n%s", page)
	}
	if got := post(d.URL, "same-origin", d.formToken); got != http.StatusSeeOther {
		t.Errorf("the page's own post: %d", got)
	}
	if c := d.GH.Comments(d.Repo, 1); len(c) != 1 || c[0].User != User || c[0].Body != "/apply" {
		t.Errorf("comments after the page's post: %+v", c)
	}
}

// A page of another site whose name resolves to 127.0.0.1 (DNS
// rebinding) reaches neither the pages nor the fake's API.
func TestOnlyItsOwnHost(t *testing.T) {
	d := startDemo(t)
	for _, p := range []string{"/demo/platform/pull/1", "/repos/demo/platform"} {
		req, _ := http.NewRequest(http.MethodGet, d.URL+p, nil)
		req.Host = "rebind.evil.example:" + strings.Split(d.URL, ":")[2]
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("%s under another name: %d", p, resp.StatusCode)
		}
	}
}

// A button is pressed only from the page, and only one its check run has.
func TestButtonsOnlyFromThePageAndOnlyTheirs(t *testing.T) {
	d := startDemo(t)
	head := d.GH.Commit(d.Repo, "change", "", nil, "more")
	id := d.GH.AddCheckRun(d.Repo, githubtest.CheckRun{Name: "stagebot/infrastructure", HeadSHA: head, Status: "completed", Conclusion: "success",
		Actions: []githubtest.Action{{Label: "Apply", Identifier: "apply"}}})
	d.GH.UpdatePull(d.Repo, 1, func(p *githubtest.Pull) { p.HeadSHA = head })
	press := func(identifier, token string) int {
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).PostForm(
			fmt.Sprintf("%s/checks/%d", d.PullURL(1), id), url.Values{"identifier": {identifier}, "token": {token}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := press("apply", "wrong"); got != http.StatusForbidden {
		t.Errorf("without the page's token: %d", got)
	}
	if got := press("destroy", d.formToken); got != http.StatusNotFound {
		t.Errorf("a button the check run does not have: %d", got)
	}
	_, page := get(t, d.PullURL(1))
	if !strings.Contains(page, `data-action="apply"`) {
		t.Errorf("the page shows no Apply button:\n%s", page)
	}
}
