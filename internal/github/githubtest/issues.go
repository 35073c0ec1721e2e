package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// Issue is an issue of the fake (not a pull request).
type Issue struct {
	Number int
	Title  string
	Body   string
	State  string // open, closed
	Labels []string
	Author string
	// Updates counts PATCHes.
	Updates int
}

// AddIssue opens an issue by a person and returns its number, which it
// shares with pull requests as on GitHub.
func (s *Server) AddIssue(repo *Repo, author, title string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIssue(repo, &Issue{Title: title, State: "open", Author: author})
}

func (s *Server) newIssue(repo *Repo, is *Issue) int {
	n := 0
	for k := range repo.pulls {
		n = max(n, k)
	}
	for k := range repo.issues {
		n = max(n, k)
	}
	is.Number = n + 1
	if repo.issues == nil {
		repo.issues = map[int]*Issue{}
	}
	repo.issues[is.Number] = is
	return is.Number
}

// Issues returns the repository's issues, by number.
func (s *Server) Issues(repo *Repo) []Issue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Issue
	for _, k := range sortedInts(repo.issues) {
		is := *repo.issues[k]
		is.Labels = slices.Clone(is.Labels)
		out = append(out, is)
	}
	return out
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// issueOrPull checks the path's number names an issue or a pull request
// (the issues API serves both), answering 404 otherwise. s.mu is held.
func (s *Server) issueOrPull(w http.ResponseWriter, r *http.Request, repo *Repo) bool {
	n, ok := pathInt(r, "number")
	if ok && (repo.pulls[int(n)] != nil || repo.issues[int(n)] != nil) {
		return true
	}
	apiError(w, http.StatusNotFound, "Not Found")
	return false
}

func (s *Server) issueJSON(r *http.Request, repo *Repo, is *Issue) *gogithub.Issue {
	out := &gogithub.Issue{
		Number: gogithub.Int(is.Number), Title: gogithub.String(is.Title), Body: gogithub.String(is.Body),
		State: gogithub.String(is.State), User: user(is.Author),
		HTMLURL: gogithub.String(fmt.Sprintf("https://github.com/%s/issues/%d", repo.FullName(), is.Number)),
	}
	out.Labels = labels(is.Labels)
	return out
}

type issueInput struct {
	Title  *string   `json:"title"`
	Body   *string   `json:"body"`
	State  *string   `json:"state"`
	Labels *[]string `json:"labels"`
}

// apply validates in and applies it to is, answering 422 as GitHub does.
func (in issueInput) apply(w http.ResponseWriter, is *Issue) bool {
	if in.Title != nil {
		if strings.TrimSpace(*in.Title) == "" {
			validationError(w, "Issue", "title", "missing_field", "title can't be blank")
			return false
		}
		is.Title = *in.Title
	}
	if in.Body != nil {
		if len([]rune(*in.Body)) > maxCommentChars {
			validationError(w, "Issue", "body", "custom", "body is too long (maximum is 65536 characters)")
			return false
		}
		is.Body = *in.Body
	}
	if in.State != nil {
		if *in.State != "open" && *in.State != "closed" {
			validationError(w, "Issue", "state", "invalid", "state is not included in the list")
			return false
		}
		is.State = *in.State
	}
	if in.Labels != nil {
		is.Labels = slices.Clone(*in.Labels)
	}
	return true
}

func (s *Server) createIssue(w http.ResponseWriter, r *http.Request) {
	var in issueInput
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Title == nil {
		validationError(w, "Issue", "title", "missing_field", "title is missing")
		return
	}
	is := &Issue{State: "open", Author: BotLogin}
	if !in.apply(w, is) {
		return
	}
	s.newIssue(repo, is)
	writeJSON(w, http.StatusCreated, s.issueJSON(r, repo, is))
}

func (s *Server) editIssue(w http.ResponseWriter, r *http.Request) {
	var in issueInput
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	n, _ := pathInt(r, "number")
	is := repo.issues[int(n)]
	if is == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	if !decodeBody(w, r, &in) {
		return
	}
	next := *is
	if !in.apply(w, &next) {
		return
	}
	next.Updates++
	*is = next
	writeJSON(w, http.StatusOK, s.issueJSON(r, repo, is))
}

// listIssues filters as GitHub does: state (open, closed, all; default
// open) and labels (every one named). Pull requests carry no labels here,
// so a label filter leaves them out.
func (s *Server) listIssues(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	state := r.URL.Query().Get("state")
	if state == "" {
		state = "open"
	}
	var labels []string
	if l := r.URL.Query().Get("labels"); l != "" {
		labels = strings.Split(l, ",")
	}
	out := []*gogithub.Issue{}
	for _, k := range sortedInts(repo.issues) {
		is := repo.issues[k]
		if state != "all" && is.State != state {
			continue
		}
		if !containsAll(is.Labels, labels) {
			continue
		}
		out = append(out, s.issueJSON(r, repo, is))
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

func containsAll(have, want []string) bool {
	for _, l := range want {
		if !slices.Contains(have, l) {
			return false
		}
	}
	return true
}

// RequestedActionPayload is a check_run "requested_action" delivery: user
// pressed the button identifier on a check run of the PR's head.
func (s *Server) RequestedActionPayload(r *Repo, checkRunID int64, identifier, user_ string, prs ...int) []byte {
	s.mu.Lock()
	var c *CheckRun
	for _, cr := range r.checkRuns {
		if cr.ID == checkRunID {
			c = cr
		}
	}
	s.mu.Unlock()
	if c == nil {
		panic(fmt.Sprintf("githubtest: no check run %d", checkRunID))
	}
	var pulls []*gogithub.PullRequest
	for _, n := range prs {
		pulls = append(pulls, &gogithub.PullRequest{Number: gogithub.Int(n)})
	}
	return mustJSON(&gogithub.CheckRunEvent{
		Action: gogithub.String("requested_action"),
		CheckRun: &gogithub.CheckRun{
			ID: gogithub.Int64(c.ID), Name: gogithub.String(c.Name), HeadSHA: gogithub.String(c.HeadSHA), PullRequests: pulls,
			App: &gogithub.App{ID: gogithub.Int64(AppID)},
		},
		RequestedAction: &gogithub.RequestedAction{Identifier: identifier},
		Repo:            s.eventRepo(r),
		Sender:          user(user_),
		Installation:    &gogithub.Installation{ID: gogithub.Int64(InstallationID)},
	})
}
