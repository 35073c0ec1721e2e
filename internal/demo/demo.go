// Package demo is what `bot demo` shows without a GitHub App: the fake
// GitHub (internal/github/githubtest) with a demo repository, a pull
// request page a browser can read and comment on, and the webhooks GitHub
// would send the bot for what happens there.
package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// The demo's people and repository.
const (
	User     = "you"      // signed in, the pull request's author
	Reviewer = "reviewer" // who approved it
	Owner    = "demo"
	Name     = "platform"
)

// Demo is a running fake GitHub with the demo repository.
type Demo struct {
	GH   *githubtest.Server
	Repo *githubtest.Repo
	// URL is where the pull request pages and the fake's API are served.
	URL string

	base            string // main's commit
	formToken       string // what the page's own comment form posts
	hookURL, secret string
	deliveries      atomic.Int64
}

// Start serves the fake GitHub and the pull request pages on l, with the
// git repositories under dir, and creates the demo repository with files
// on its main branch.
func Start(l net.Listener, dir string, files map[string]string) (*Demo, error) {
	d := &Demo{formToken: rand.Text()}
	gh, err := githubtest.Serve(l, dir, d.pages)
	if err != nil {
		return nil, err
	}
	d.GH, d.URL = gh, "http://"+l.Addr().String()
	d.Repo = gh.AddRepo(Owner, Name)
	d.base = gh.Commit(d.Repo, "main", "", files, "The platform, as deployed")
	gh.SetPermission(d.Repo, User, "admin")
	gh.SetPermission(d.Repo, Reviewer, "write")
	gh.SignIn(User)
	return d, nil
}

// Connect sends the webhooks of what happens from now on to url, signed
// with secret, as the App's webhook settings say.
func (d *Demo) Connect(url, secret string) { d.hookURL, d.secret = url, secret }

// OpenPR commits change on a branch, opens it as pull request 1 by User,
// approved by Reviewer, and tells the bot.
func (d *Demo) OpenPR(ctx context.Context, title string, change map[string]string) error {
	head := d.GH.CommitAs(d.Repo, User, "change", "main", change, title)
	d.GH.AddPull(d.Repo, githubtest.Pull{Number: 1, Title: title, Author: User, HeadRef: "change", HeadSHA: head, BaseSHA: d.base})
	d.GH.AddReview(d.Repo, 1, githubtest.Review{User: Reviewer, State: "APPROVED", CommitID: head})
	return d.deliver(ctx, "pull_request", d.GH.PullRequestPayload(d.Repo, 1, "opened", 0))
}

// PullURL is pull request number's page.
func (d *Demo) PullURL(number int) string {
	return fmt.Sprintf("%s/%s/%s/pull/%d", d.URL, Owner, Name, number)
}

// Close stops the fake GitHub.
func (d *Demo) Close() { d.GH.Close() }

// deliver sends a webhook as GitHub does, and says what the bot answered
// when it did not take it.
func (d *Demo) deliver(ctx context.Context, event string, body []byte) error {
	if d.hookURL == "" {
		return fmt.Errorf("no bot to send the %s event to yet", event)
	}
	id := "demo-" + strconv.FormatInt(d.deliveries.Add(1), 10)
	req := githubtest.Delivery{Event: event, ID: id, Body: body, Secret: d.secret}.Request(d.hookURL)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("send the %s event to the bot: %w", event, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("the bot answered the %s event with %s: %s", event, resp.Status, msg)
	}
	return nil
}
