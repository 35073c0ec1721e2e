package github

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"time"

	gogithub "github.com/google/go-github/v60/github"
)

// Repositories lists every repository of every installation of the App, as
// GitHub says now: the installations with the App's JWT, then each one's
// repositories with its installation token. It is what the App may act on,
// whether or not a webhook of it has reached the bot yet.
func (a *App) Repositories(ctx context.Context) ([]Repo, error) {
	ids, err := a.installations(ctx)
	if err != nil {
		return nil, err
	}
	var out []Repo
	for _, id := range ids {
		repos, err := a.Installation(id).Repositories(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, repos...)
	}
	slices.SortFunc(out, func(x, y Repo) int { return cmp.Compare(x.FullName(), y.FullName()) })
	return out, nil
}

// installations lists the ids of the App's installations.
func (a *App) installations(ctx context.Context) ([]int64, error) {
	gc := gogithub.NewClient(&http.Client{Transport: a.apps, Timeout: 2 * time.Minute})
	gc.BaseURL = a.apiURL
	// A client of the App itself (its JWT), not of an installation: only
	// this list is asked with it.
	self := &Client{gh: gc, appID: a.id}
	opts := &gogithub.ListOptions{PerPage: perPage}
	installs, err := allPages(&opts.Page, func() ([]*gogithub.Installation, *gogithub.Response, error) {
		return self.gh.Apps.ListInstallations(ctx, opts)
	})
	if err != nil {
		return nil, self.errorf(err, "list the App's installations")
	}
	ids := make([]int64, len(installs))
	for i, inst := range installs {
		ids[i] = inst.GetID()
	}
	return ids, nil
}

// Repositories lists the repositories the installation reaches.
func (c *Client) Repositories(ctx context.Context) ([]Repo, error) {
	opts := &gogithub.ListOptions{PerPage: perPage}
	repos, err := allPages(&opts.Page, func() ([]*gogithub.Repository, *gogithub.Response, error) {
		page, resp, err := c.gh.Apps.ListRepos(ctx, opts)
		if err != nil {
			return nil, resp, err
		}
		return page.Repositories, resp, nil
	})
	if err != nil {
		return nil, c.errorf(err, "list the repositories of installation %d", c.installationID)
	}
	out := make([]Repo, len(repos))
	for i, r := range repos {
		out[i] = Repo{Owner: r.GetOwner().GetLogin(), Name: r.GetName(), DefaultBranch: r.GetDefaultBranch(), Private: r.GetPrivate()}
	}
	return out, nil
}
