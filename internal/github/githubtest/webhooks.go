package githubtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// The payload builders below encode go-github's event types, so field names
// and nesting are GitHub's.

func (s *Server) eventRepo(r *Repo) *gogithub.Repository {
	return &gogithub.Repository{
		ID: gogithub.Int64(r.ID), Name: gogithub.String(r.Name), FullName: gogithub.String(r.FullName()),
		Owner:   &gogithub.User{Login: gogithub.String(r.Owner), Type: gogithub.String("Organization")},
		Private: gogithub.Bool(r.Private), DefaultBranch: gogithub.String(r.DefaultBranch),
		CloneURL: gogithub.String(s.srv.URL + "/git/" + r.FullName() + ".git"),
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// PullRequestPayload is a pull_request delivery for one of the fake's PRs.
// Padding adds that many bytes to the PR body, as long descriptions do.
func (s *Server) PullRequestPayload(r *Repo, number int, action string, padding int) []byte {
	s.mu.Lock()
	p := *r.pulls[number]
	s.mu.Unlock()
	repo := s.eventRepo(r)
	head := repo
	if p.HeadRepo != "" {
		owner, name, _ := strings.Cut(p.HeadRepo, "/")
		head = &gogithub.Repository{Name: gogithub.String(name), FullName: gogithub.String(p.HeadRepo), Owner: user(owner), Fork: gogithub.Bool(true)}
	}
	pr := &gogithub.PullRequest{
		Number: gogithub.Int(p.Number), State: gogithub.String(p.State), Title: gogithub.String(p.Title),
		Body: gogithub.String(strings.Repeat("Lorem ipsum dolor sit amet. ", padding/28+1)[:padding]),
		User: user(p.Author), Draft: gogithub.Bool(p.Draft), Merged: gogithub.Bool(p.Merged),
		Head: &gogithub.PullRequestBranch{Ref: gogithub.String(p.HeadRef), SHA: gogithub.String(p.HeadSHA), Repo: head},
		Base: &gogithub.PullRequestBranch{Ref: gogithub.String(p.BaseRef), SHA: gogithub.String(p.BaseSHA), Repo: repo},
	}
	if p.MergeCommitSHA != "" {
		pr.MergeCommitSHA = gogithub.String(p.MergeCommitSHA)
	}
	pr.Labels = labels(p.Labels)
	return mustJSON(&gogithub.PullRequestEvent{
		Action: gogithub.String(action), Number: gogithub.Int(p.Number), PullRequest: pr, Repo: repo,
		Sender:       user(p.Author),
		Installation: &gogithub.Installation{ID: gogithub.Int64(InstallationID)},
	})
}

// LabelPayload labels a PR (action "labeled") or removes the label
// ("unlabeled") as user, and returns the pull_request delivery GitHub
// sends for it: the PR with its labels now, and the label in question.
func (s *Server) LabelPayload(r *Repo, number int, action, label, by string) []byte {
	s.mu.Lock()
	p := r.pulls[number]
	p.Labels = slices.DeleteFunc(p.Labels, func(l string) bool { return l == label })
	if action == "labeled" {
		p.Labels = append(p.Labels, label)
	}
	s.mu.Unlock()
	var ev gogithub.PullRequestEvent
	if err := json.Unmarshal(s.PullRequestPayload(r, number, action, 0), &ev); err != nil {
		panic(err)
	}
	ev.Label = labels([]string{label})[0]
	ev.Sender = user(by)
	return mustJSON(&ev)
}

// labels are GitHub's label objects for names.
func labels(names []string) []*gogithub.Label {
	out := make([]*gogithub.Label, len(names))
	for i, n := range names {
		out[i] = &gogithub.Label{ID: gogithub.Int64(int64(1000 + i)), Name: gogithub.String(n), Color: gogithub.String("ededed"), Default: gogithub.Bool(false)}
	}
	return out
}

// CommentPayload is an issue_comment "created" delivery for a comment made
// with AddComment on a PR.
func (s *Server) CommentPayload(r *Repo, number int, commentID int64) []byte {
	return s.commentPayload(r, number, commentID, true)
}

// IssueCommentPayload is an issue_comment "created" delivery for a comment
// made with AddComment on an issue (not a pull request).
func (s *Server) IssueCommentPayload(r *Repo, number int, commentID int64) []byte {
	return s.commentPayload(r, number, commentID, false)
}

func (s *Server) commentPayload(r *Repo, number int, commentID int64, pull bool) []byte {
	s.mu.Lock()
	var c *Comment
	for _, cm := range r.comments {
		if cm.ID == commentID {
			c = cm
		}
	}
	s.mu.Unlock()
	if c == nil {
		panic(fmt.Sprintf("githubtest: no comment %d", commentID))
	}
	issue := &gogithub.Issue{Number: gogithub.Int(number), State: gogithub.String("open")}
	if pull {
		issue.PullRequestLinks = &gogithub.PullRequestLinks{URL: gogithub.String(fmt.Sprintf("%s/repos/%s/pulls/%d", s.srv.URL, r.FullName(), number))}
	}
	return mustJSON(&gogithub.IssueCommentEvent{
		Action:       gogithub.String("created"),
		Issue:        issue,
		Comment:      &gogithub.IssueComment{ID: gogithub.Int64(c.ID), Body: gogithub.String(c.Body), User: user(c.User)},
		Repo:         s.eventRepo(r),
		Sender:       user(c.User),
		Installation: &gogithub.Installation{ID: gogithub.Int64(InstallationID)},
	})
}

// Delivery is a webhook delivery as GitHub sends it.
type Delivery struct {
	Event string
	ID    string
	Body  []byte
	// Secret signs the body; empty sends no signature.
	Secret string
}

// Request builds the HTTP request GitHub would send to url.
func (d Delivery) Request(url string) *http.Request {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(d.Body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "GitHub-Hookshot/test")
	req.Header.Set("X-GitHub-Event", d.Event)
	req.Header.Set("X-GitHub-Delivery", d.ID)
	req.Header.Set("X-GitHub-Hook-ID", "1")
	if d.Secret != "" {
		mac := hmac.New(sha256.New, []byte(d.Secret))
		mac.Write(d.Body)
		req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	return req
}

// PushPayload is the push delivery GitHub sends when sender pushes branch
// from before to after.
// Its commits are those after brought that before (or, for a new branch,
// the default branch) did not have.
func (s *Server) PushPayload(r *Repo, branch, before, after, sender string) []byte {
	from := before
	if strings.Trim(before, "0") == "" {
		from = r.DefaultBranch
	}
	cmd := exec.Command("git", "rev-list", "--reverse", from+".."+after)
	cmd.Dir = s.bareDir(r)
	out, _ := cmd.Output()
	var commits []*gogithub.HeadCommit
	for _, sha := range strings.Fields(string(out)) {
		commits = append(commits, &gogithub.HeadCommit{ID: gogithub.String(sha)})
	}
	return mustJSON(&gogithub.PushEvent{
		Commits: commits,
		Ref:     gogithub.String("refs/heads/" + branch), Before: gogithub.String(before), After: gogithub.String(after),
		Repo:         &gogithub.PushEventRepository{Name: gogithub.String(r.Name), FullName: gogithub.String(r.FullName()), Owner: &gogithub.User{Login: gogithub.String(r.Owner), Name: gogithub.String(r.Owner)}, DefaultBranch: gogithub.String(r.DefaultBranch)},
		Sender:       user(sender),
		Pusher:       &gogithub.CommitAuthor{Name: gogithub.String(sender)},
		Installation: &gogithub.Installation{ID: gogithub.Int64(InstallationID)},
	})
}
