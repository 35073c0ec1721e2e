package github

import (
	"context"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// Issue is a repository issue (not a pull request).
type Issue struct {
	Number int
	Title  string
	Body   string
	State  string // open, closed
	Labels []string
}

// Issues lists the repository's issues with the label, in state (open,
// closed or all). Pull requests, which the issues API lists too, are left
// out.
func (c *Client) Issues(ctx context.Context, repo Repo, label, state string) ([]Issue, error) {
	opts := &gogithub.IssueListByRepoOptions{State: state, Labels: []string{label}, ListOptions: gogithub.ListOptions{PerPage: perPage}}
	issues, err := allPages(&opts.Page, func() ([]*gogithub.Issue, *gogithub.Response, error) {
		return c.gh.Issues.ListByRepo(ctx, repo.Owner, repo.Name, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list issues of %s labelled %s", repo.FullName(), label)
	}
	var out []Issue
	for _, is := range issues {
		if !is.IsPullRequest() {
			out = append(out, toIssue(is))
		}
	}
	return out, nil
}

func toIssue(is *gogithub.Issue) Issue {
	out := Issue{Number: is.GetNumber(), Title: is.GetTitle(), Body: is.GetBody(), State: is.GetState()}
	for _, l := range is.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out
}

// CreateIssue opens an issue. A create that failed with a 5xx may have been
// made all the same: it is looked for by marker (in the body) before it is
// made again.
func (c *Client) CreateIssue(ctx context.Context, repo Repo, is Issue, marker string) (Issue, error) {
	req := &gogithub.IssueRequest{Title: &is.Title, Body: &is.Body, Labels: &is.Labels}
	for attempt := 0; ; attempt++ {
		made, _, err := c.gh.Issues.Create(ctx, repo.Owner, repo.Name, req)
		if err == nil {
			return toIssue(made), nil
		}
		err = c.errorf(err, "open issue %q on %s", is.Title, repo.FullName())
		if attempt == 2 || !retryable(err) || len(is.Labels) == 0 {
			return Issue{}, err
		}
		if found, ferr := c.Issues(ctx, repo, is.Labels[0], "open"); ferr == nil {
			for _, f := range found {
				if strings.Contains(f.Body, marker) {
					return f, nil
				}
			}
		}
	}
}

// EditIssue changes an issue's title, body and state.
func (c *Client) EditIssue(ctx context.Context, repo Repo, is Issue) error {
	req := &gogithub.IssueRequest{Title: &is.Title, Body: &is.Body, State: &is.State}
	if _, _, err := c.gh.Issues.Edit(ctx, repo.Owner, repo.Name, is.Number, req); err != nil {
		return c.errorf(err, "edit issue %d of %s", is.Number, repo.FullName())
	}
	return nil
}
