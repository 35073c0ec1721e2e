package github

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	gogithub "github.com/google/go-github/v60/github"
)

// Client is one installation's view of GitHub, limited to what the bot does.
type Client struct {
	gh             *gogithub.Client
	tokens         tokenSource
	installationID int64
	// appID is this App's: only its own check runs are found and edited.
	appID int64
	// rate keeps the quota GitHub's answers report (nil: not kept).
	rate *rateRecorder
}

// PullRequest is the state of a PR the workflow decides on.
type PullRequest struct {
	Number         int
	State          string // open, closed
	Author         string
	HeadSHA        string
	HeadRef        string
	BaseSHA        string
	BaseRef        string
	Draft          bool
	Merged         bool
	Fork           bool
	MergeableState string // clean, unstable, has_hooks, blocked, behind, dirty, unknown
	MergeCommitSHA string
	// MergedBy is who merged it.
	MergedBy string
	// Labels are its labels' names.
	Labels []string
	// Commits counts its commits (PullCommits lists at most 250 of them).
	Commits int
	// ChangedFiles counts the files it changes (ChangedFiles lists at most
	// 3,000 of them).
	ChangedFiles int
}

// ChangedFile is one file of a PR's diff.
type ChangedFile struct {
	Path string
	// PreviousPath is the old path of a renamed file.
	PreviousPath string
	Status       string // added, removed, modified, renamed, copied, changed, unchanged
}

// Review is one PR review.
type Review struct {
	ID       int64
	User     string
	State    string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED, PENDING
	CommitID string
}

// Comment is one PR (issue) comment.
type Comment struct {
	ID     int64
	User   string
	IsBot  bool
	Body   string
	Edited time.Time
}

// CheckRun is what the bot writes to a check run. Conclusion is set only when
// Status is "completed".
type CheckRun struct {
	Name       string
	HeadSHA    string
	ExternalID string
	Status     string // queued, in_progress, completed
	Conclusion string // success, failure, neutral, cancelled, action_required
	Title      string
	Summary    string
	Text       string
	// Actions are buttons on the check run (at most three); pressing one
	// sends check_run requested_action with its identifier.
	Actions []CheckRunAction
}

// CheckRunAction is a check run's button.
type CheckRunAction struct{ Label, Identifier, Description string }

func checkActions(cr CheckRun) []*gogithub.CheckRunAction {
	if cr.Actions == nil {
		return nil
	}
	out := []*gogithub.CheckRunAction{}
	for _, a := range cr.Actions {
		out = append(out, &gogithub.CheckRunAction{Label: a.Label, Identifier: a.Identifier, Description: a.Description})
	}
	return out
}

const perPage = 100

// APIError is GitHub refusing a request: its status and message, and what
// the bot was doing.
type APIError struct {
	Op      string
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s: GitHub answered %d: %s", e.Op, e.Status, e.Message)
}

func (c *Client) errorf(err error, format string, args ...any) error {
	var rerr *gogithub.ErrorResponse
	if errors.As(err, &rerr) && rerr.Response != nil {
		// go-github's message repeats the URL; the status and GitHub's
		// own message say enough.
		return &APIError{Op: fmt.Sprintf(format, args...), Status: rerr.Response.StatusCode, Message: rerr.Message}
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// retryable reports whether a failed write may not have happened, or may
// have happened unseen: GitHub's 5xx, or no answer at all.
func retryable(err error) bool {
	var aerr *APIError
	if errors.As(err, &aerr) {
		return aerr.Status >= 500
	}
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// ErrNoMembersPermission is GitHub refusing to show team membership: the
// installation was not granted members: read.
var ErrNoMembersPermission = errors.New("the GitHub App cannot read team membership: it needs the organization permission members: read (accept it in the installation's settings)")

// TeamMember reports whether user is an active member of the team
// (org/slug). GitHub answers 404 both for a non-member and for a team the
// App cannot see (the App needs members: read).
func (c *Client) TeamMember(ctx context.Context, team, user string) (bool, error) {
	org, slug, _ := strings.Cut(team, "/")
	m, resp, err := c.gh.Teams.GetTeamMembershipBySlug(ctx, org, slug, user)
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusForbidden {
			return false, ErrNoMembersPermission
		}
		err = c.errorf(err, "read membership of %s in %s", user, team)
		if IsNotFound(err) {
			return false, nil
		}
		return false, err
	}
	return m.GetState() == "active", nil
}

// IsNotFound reports whether err is GitHub's 404.
func IsNotFound(err error) bool {
	var aerr *APIError
	return errors.As(err, &aerr) && aerr.Status == http.StatusNotFound
}

// PullRequest returns a PR.
func (c *Client) PullRequest(ctx context.Context, repo Repo, number int) (PullRequest, error) {
	pr, _, err := c.gh.PullRequests.Get(ctx, repo.Owner, repo.Name, number)
	if err != nil {
		return PullRequest{}, c.errorf(err, "get %s#%d", repo.FullName(), number)
	}
	out := PullRequest{
		Number:         pr.GetNumber(),
		State:          pr.GetState(),
		Author:         pr.GetUser().GetLogin(),
		HeadSHA:        pr.GetHead().GetSHA(),
		HeadRef:        pr.GetHead().GetRef(),
		BaseSHA:        pr.GetBase().GetSHA(),
		BaseRef:        pr.GetBase().GetRef(),
		Draft:          pr.GetDraft(),
		Merged:         pr.GetMerged(),
		MergeableState: pr.GetMergeableState(),
		MergeCommitSHA: pr.GetMergeCommitSHA(),
		MergedBy:       pr.GetMergedBy().GetLogin(),
		Commits:        pr.GetCommits(),
		ChangedFiles:   pr.GetChangedFiles(),
	}
	out.Fork = !strings.EqualFold(pr.GetHead().GetRepo().GetFullName(), pr.GetBase().GetRepo().GetFullName())
	for _, l := range pr.Labels {
		out.Labels = append(out.Labels, l.GetName())
	}
	return out, nil
}

// ChangedFiles returns every file a PR changes (all pages; GitHub lists at
// most 3,000).
func (c *Client) ChangedFiles(ctx context.Context, repo Repo, number int) ([]ChangedFile, error) {
	opts := &gogithub.ListOptions{PerPage: perPage}
	files, err := allPages(&opts.Page, func() ([]*gogithub.CommitFile, *gogithub.Response, error) {
		return c.gh.PullRequests.ListFiles(ctx, repo.Owner, repo.Name, number, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list changed files of %s#%d", repo.FullName(), number)
	}
	out := make([]ChangedFile, len(files))
	for i, f := range files {
		out[i] = ChangedFile{Path: f.GetFilename(), PreviousPath: f.GetPreviousFilename(), Status: f.GetStatus()}
	}
	return out, nil
}

// Reviews returns every review of a PR, oldest first.
func (c *Client) Reviews(ctx context.Context, repo Repo, number int) ([]Review, error) {
	opts := &gogithub.ListOptions{PerPage: perPage}
	reviews, err := allPages(&opts.Page, func() ([]*gogithub.PullRequestReview, *gogithub.Response, error) {
		return c.gh.PullRequests.ListReviews(ctx, repo.Owner, repo.Name, number, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list reviews of %s#%d", repo.FullName(), number)
	}
	out := make([]Review, len(reviews))
	for i, r := range reviews {
		out[i] = Review{ID: r.GetID(), User: r.GetUser().GetLogin(), State: r.GetState(), CommitID: r.GetCommitID()}
	}
	return out, nil
}

// Commit is one commit of a PR: the GitHub users its author and committer
// emails belong to ("" when GitHub knows none).
type Commit struct {
	SHA       string
	Author    string
	Committer string
}

// PullCommits returns a PR's commits, oldest first (GitHub lists at most
// 250).
func (c *Client) PullCommits(ctx context.Context, repo Repo, number int) ([]Commit, error) {
	opts := &gogithub.ListOptions{PerPage: perPage}
	commits, err := allPages(&opts.Page, func() ([]*gogithub.RepositoryCommit, *gogithub.Response, error) {
		return c.gh.PullRequests.ListCommits(ctx, repo.Owner, repo.Name, number, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list commits of %s#%d", repo.FullName(), number)
	}
	out := make([]Commit, len(commits))
	for i, rc := range commits {
		out[i] = Commit{SHA: rc.GetSHA(), Author: rc.GetAuthor().GetLogin(), Committer: rc.GetCommitter().GetLogin()}
	}
	return out, nil
}

// MergedPullsOf returns the numbers of the merged PRs into branch that
// GitHub associates with a commit (its merge, squash or rebased commit).
func (c *Client) MergedPullsOf(ctx context.Context, repo Repo, sha, branch string) ([]int, error) {
	opts := &gogithub.ListOptions{PerPage: perPage}
	pulls, err := allPages(&opts.Page, func() ([]*gogithub.PullRequest, *gogithub.Response, error) {
		return c.gh.PullRequests.ListPullRequestsWithCommit(ctx, repo.Owner, repo.Name, sha, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list the pull requests of %s@%s", repo.FullName(), sha)
	}
	var out []int
	for _, p := range pulls {
		// The list's PRs carry merged_at, not merged.
		if !p.GetMergedAt().IsZero() || p.GetMerged() {
			if p.GetBase().GetRef() == branch {
				out = append(out, p.GetNumber())
			}
		}
	}
	return out, nil
}

// Permission returns a user's role on the repository: admin, maintain, write,
// triage, read or none.
func (c *Client) Permission(ctx context.Context, repo Repo, user string) (string, error) {
	req, err := c.gh.NewRequest(http.MethodGet, fmt.Sprintf("repos/%s/%s/collaborators/%s/permission", repo.Owner, repo.Name, user), nil)
	if err != nil {
		return "", err
	}
	var body struct {
		Permission string `json:"permission"`
		RoleName   string `json:"role_name"`
	}
	if _, err := c.gh.Do(ctx, req, &body); err != nil {
		return "", c.errorf(err, "get permission of %s on %s", user, repo.FullName())
	}
	// role_name tells maintain and triage apart; permission is the
	// legacy field that folds them into write and read.
	switch body.RoleName {
	case "admin", "maintain", "write", "triage", "read":
		return body.RoleName, nil
	}
	if body.Permission == "" {
		return "none", nil
	}
	return body.Permission, nil
}

// Comments returns every comment of a PR, oldest first.
func (c *Client) Comments(ctx context.Context, repo Repo, number int) ([]Comment, error) {
	opts := &gogithub.IssueListCommentsOptions{ListOptions: gogithub.ListOptions{PerPage: perPage}}
	comments, err := allPages(&opts.Page, func() ([]*gogithub.IssueComment, *gogithub.Response, error) {
		return c.gh.Issues.ListComments(ctx, repo.Owner, repo.Name, number, opts)
	})
	if err != nil {
		return nil, c.errorf(err, "list comments of %s#%d", repo.FullName(), number)
	}
	out := make([]Comment, len(comments))
	for i, cm := range comments {
		out[i] = toComment(cm)
	}
	return out, nil
}

func toComment(cm *gogithub.IssueComment) Comment {
	return Comment{
		ID:     cm.GetID(),
		User:   cm.GetUser().GetLogin(),
		IsBot:  cm.GetUser().GetType() == "Bot",
		Body:   cm.GetBody(),
		Edited: cm.GetUpdatedAt().Time,
	}
}

// CreateComment posts a new comment on a PR.
func (c *Client) CreateComment(ctx context.Context, repo Repo, number int, body string) (Comment, error) {
	cm, _, err := c.gh.Issues.CreateComment(ctx, repo.Owner, repo.Name, number, &gogithub.IssueComment{Body: &body})
	if err != nil {
		return Comment{}, c.errorf(err, "comment on %s#%d", repo.FullName(), number)
	}
	return toComment(cm), nil
}

// EditComment replaces a comment's body.
// DeleteComment deletes a comment; one already gone is no error.
func (c *Client) DeleteComment(ctx context.Context, repo Repo, id int64) error {
	resp, err := c.gh.Issues.DeleteComment(ctx, repo.Owner, repo.Name, id)
	if err != nil && (resp == nil || resp.StatusCode != http.StatusNotFound) {
		return c.errorf(err, "delete comment %d on %s", id, repo.FullName())
	}
	return nil
}

func (c *Client) EditComment(ctx context.Context, repo Repo, id int64, body string) error {
	_, _, err := c.gh.Issues.EditComment(ctx, repo.Owner, repo.Name, id, &gogithub.IssueComment{Body: &body})
	if err != nil {
		return c.errorf(err, "edit comment %d on %s", id, repo.FullName())
	}
	return nil
}

// UpsertComment makes sure the PR has exactly one comment of the bot that
// carries marker, with body: it edits the one it finds (when the body
// differs) and creates it otherwise. body must contain marker. Because the
// lookup comes first, a job re-run after a crash finds the comment the
// interrupted run posted instead of posting a second one.
func (c *Client) UpsertComment(ctx context.Context, repo Repo, number int, marker, body string) (Comment, error) {
	if !strings.Contains(body, marker) {
		return Comment{}, fmt.Errorf("comment on %s#%d: body lacks its marker %q", repo.FullName(), number, marker)
	}
	comments, err := c.Comments(ctx, repo, number)
	if err != nil {
		return Comment{}, err
	}
	return c.UpsertCommentIn(ctx, repo, number, comments, marker, body)
}

// UpsertCommentIn is UpsertComment with the PR's comments as listed
// already (comments): a caller writing several comments of one PR lists
// them once.
func (c *Client) UpsertCommentIn(ctx context.Context, repo Repo, number int, comments []Comment, marker, body string) (Comment, error) {
	if !strings.Contains(body, marker) {
		return Comment{}, fmt.Errorf("comment on %s#%d: body lacks its marker %q", repo.FullName(), number, marker)
	}
	for _, cm := range comments {
		if !cm.IsBot || !strings.Contains(cm.Body, marker) {
			continue
		}
		if cm.Body != body {
			if err := c.EditComment(ctx, repo, cm.ID, body); err != nil {
				return Comment{}, err
			}
			cm.Body = body
		}
		return cm, nil
	}
	// A create that failed may have been done all the same (GitHub's edge
	// answered 502): look for the marker again before creating again.
	for attempt := 0; ; attempt++ {
		cm, err := c.CreateComment(ctx, repo, number, body)
		if err == nil || attempt == 2 || !retryable(err) {
			return cm, err
		}
		comments, lerr := c.Comments(ctx, repo, number)
		if lerr != nil {
			return Comment{}, err
		}
		for _, cm := range comments {
			if cm.IsBot && strings.Contains(cm.Body, marker) {
				return cm, nil
			}
		}
	}
}

// React adds a reaction (e.g. "eyes") to a PR comment. GitHub keeps one
// reaction per user and content, so repeating it is harmless.
func (c *Client) React(ctx context.Context, repo Repo, commentID int64, content string) error {
	if _, _, err := c.gh.Reactions.CreateIssueCommentReaction(ctx, repo.Owner, repo.Name, commentID, content); err != nil {
		return c.errorf(err, "react %s to comment %d on %s", content, commentID, repo.FullName())
	}
	return nil
}

func checkOutput(cr CheckRun) *gogithub.CheckRunOutput {
	if cr.Title == "" && cr.Summary == "" {
		return nil
	}
	out := &gogithub.CheckRunOutput{Title: gogithub.String(cr.Title), Summary: gogithub.String(cr.Summary)}
	if cr.Text != "" {
		out.Text = gogithub.String(cr.Text)
	}
	return out
}

// CreateCheckRun creates a check run and returns its id.
func (c *Client) CreateCheckRun(ctx context.Context, repo Repo, cr CheckRun) (int64, error) {
	opts := gogithub.CreateCheckRunOptions{
		Name:    cr.Name,
		HeadSHA: cr.HeadSHA,
		Output:  checkOutput(cr),
		Actions: checkActions(cr),
	}
	if cr.ExternalID != "" {
		opts.ExternalID = gogithub.String(cr.ExternalID)
	}
	if cr.Status != "" {
		opts.Status = gogithub.String(cr.Status)
	}
	if cr.Conclusion != "" {
		opts.Conclusion = gogithub.String(cr.Conclusion)
	}
	for attempt := 0; ; attempt++ {
		run, _, err := c.gh.Checks.CreateCheckRun(ctx, repo.Owner, repo.Name, opts)
		if err == nil {
			return run.GetID(), nil
		}
		err = c.errorf(err, "create check run %s on %s@%s", cr.Name, repo.FullName(), cr.HeadSHA)
		if attempt == 2 || !retryable(err) {
			return 0, err
		}
		// The create may have been done all the same: look before creating
		// again, so a commit never gets the same check run twice.
		if id, ferr := c.FindCheckRun(ctx, repo, cr.HeadSHA, cr.Name); ferr == nil && id != 0 {
			return id, c.UpdateCheckRun(ctx, repo, id, cr)
		}
	}
}

// UpdateCheckRun updates a check run.
func (c *Client) UpdateCheckRun(ctx context.Context, repo Repo, id int64, cr CheckRun) error {
	opts := gogithub.UpdateCheckRunOptions{Name: cr.Name, Output: checkOutput(cr), Actions: checkActions(cr)}
	if cr.Status != "" {
		opts.Status = gogithub.String(cr.Status)
	}
	if cr.Conclusion != "" {
		opts.Conclusion = gogithub.String(cr.Conclusion)
	}
	if _, _, err := c.gh.Checks.UpdateCheckRun(ctx, repo.Owner, repo.Name, id, opts); err != nil {
		return c.errorf(err, "update check run %d (%s) on %s", id, cr.Name, repo.FullName())
	}
	return nil
}

// Clone is what git needs to fetch a repository: its URL and an
// installation token to send as HTTP basic auth (user x-access-token). The
// token is kept out of the URL so it never shows in git's output or errors.
type Clone struct {
	URL   string
	Token string
}

// CloneInfo returns the authenticated clone source of a repository.
func (c *Client) CloneInfo(ctx context.Context, repo Repo) (Clone, error) {
	r, _, err := c.gh.Repositories.Get(ctx, repo.Owner, repo.Name)
	if err != nil {
		return Clone{}, c.errorf(err, "get repository %s", repo.FullName())
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return Clone{}, fmt.Errorf("installation token for %s: %w", repo.FullName(), err)
	}
	return Clone{URL: r.GetCloneURL(), Token: tok}, nil
}

// FileContent returns a file of the repository at ref (a branch, tag or
// SHA). A missing file is an APIError with status 404.
func (c *Client) FileContent(ctx context.Context, repo Repo, path, ref string) ([]byte, error) {
	file, _, _, err := c.gh.Repositories.GetContents(ctx, repo.Owner, repo.Name, path, &gogithub.RepositoryContentGetOptions{Ref: ref})
	if err != nil {
		return nil, c.errorf(err, "read %s of %s at %s", path, repo.FullName(), ref)
	}
	if file == nil {
		return nil, fmt.Errorf("read %s of %s at %s: a directory, not a file", path, repo.FullName(), ref)
	}
	content, err := file.GetContent()
	if err != nil {
		return nil, fmt.Errorf("read %s of %s at %s: %w", path, repo.FullName(), ref, err)
	}
	return []byte(content), nil
}

// CheckRunsOn returns this App's check runs on sha, the newest of each name:
// one listing (a page per 100) where FindCheckRun would ask once a name.
func (c *Client) CheckRunsOn(ctx context.Context, repo Repo, sha string) (map[string]int64, error) {
	opts := c.ownCheckRuns(nil)
	runs, err := allPages(&opts.Page, func() ([]*gogithub.CheckRun, *gogithub.Response, error) {
		res, resp, err := c.gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, sha, opts)
		if err != nil {
			return nil, resp, err
		}
		return res.CheckRuns, resp, nil
	})
	if err != nil {
		return nil, c.errorf(err, "list check runs on %s@%s", repo.FullName(), sha)
	}
	out := map[string]int64{}
	for _, cr := range runs {
		if _, seen := out[cr.GetName()]; !seen && c.ours(cr) {
			out[cr.GetName()] = cr.GetID()
		}
	}
	return out, nil
}

// FindCheckRun returns the id of this App's newest check run of that name
// on sha, or 0.
func (c *Client) FindCheckRun(ctx context.Context, repo Repo, sha, name string) (int64, error) {
	res, _, err := c.gh.Checks.ListCheckRunsForRef(ctx, repo.Owner, repo.Name, sha, c.ownCheckRuns(gogithub.String(name)))
	if err != nil {
		return 0, c.errorf(err, "list check runs %s on %s@%s", name, repo.FullName(), sha)
	}
	for _, cr := range res.CheckRuns {
		if c.ours(cr) {
			return cr.GetID(), nil
		}
	}
	return 0, nil
}

// ownCheckRuns lists this App's check runs (of that name, when not nil).
func (c *Client) ownCheckRuns(name *string) *gogithub.ListCheckRunsOptions {
	opts := &gogithub.ListCheckRunsOptions{CheckName: name, ListOptions: gogithub.ListOptions{PerPage: perPage}}
	if c.appID != 0 {
		opts.AppID = gogithub.Int64(c.appID)
	}
	return opts
}

// ours reports whether this App made cr: another App's check run of the
// same name is never ours to edit, whatever a GitHub that ignores app_id
// lists.
func (c *Client) ours(cr *gogithub.CheckRun) bool {
	return c.appID == 0 || cr.GetApp().GetID() == c.appID
}

// CheckRunWriter is what UpsertCheckRun needs of a client.
type CheckRunWriter interface {
	FindCheckRun(ctx context.Context, repo Repo, sha, name string) (int64, error)
	CreateCheckRun(ctx context.Context, repo Repo, cr CheckRun) (int64, error)
	UpdateCheckRun(ctx context.Context, repo Repo, id int64, cr CheckRun) error
}

// UpsertCheckRun updates this App's check run of cr's name on cr's commit,
// or creates it when there is none, and returns its ID. id, when not 0, is
// the check run already known to be it.
func UpsertCheckRun(ctx context.Context, c CheckRunWriter, repo Repo, id int64, cr CheckRun) (int64, error) {
	if id == 0 {
		var err error
		if id, err = c.FindCheckRun(ctx, repo, cr.HeadSHA, cr.Name); err != nil {
			return 0, err
		}
	}
	if id == 0 {
		return c.CreateCheckRun(ctx, repo, cr)
	}
	return id, c.UpdateCheckRun(ctx, repo, id, cr)
}
