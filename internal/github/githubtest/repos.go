package githubtest

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	gogithub "github.com/google/go-github/v60/github"
)

// Repo is a repository of the fake.
type Repo struct {
	ID            int64
	Owner, Name   string
	DefaultBranch string
	Private       bool

	pulls       map[int]*Pull
	issues      map[int]*Issue
	comments    []*Comment
	checkRuns   []*CheckRun
	permissions map[string]string // login -> admin, maintain, write, triage, read
}

// FullName is owner/name.
func (r *Repo) FullName() string { return r.Owner + "/" + r.Name }

// Pull is a pull request of the fake.
type Pull struct {
	Number         int
	Title          string
	Author         string
	State          string // open (default), closed
	HeadRef        string
	HeadSHA        string
	BaseRef        string
	BaseSHA        string
	Draft          bool
	Merged         bool
	MergeableState string
	MergeCommitSHA string
	MergedBy       string
	// HeadRepo is the head's repository when it is a fork ("" = same repo).
	HeadRepo string
	Files    []File
	Reviews  []Review
	// Labels are the names of its labels.
	Labels []string
}

// File is a changed file of a PR.
type File struct {
	Path         string
	PreviousPath string // renames
	Status       string // added (default), modified, removed, renamed
}

// Review is a PR review.
type Review struct {
	ID       int64
	User     string
	State    string // APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED
	CommitID string
}

// Comment is an issue comment as the fake keeps it.
type Comment struct {
	ID        int64
	Number    int
	User      string
	IsBot     bool
	Body      string
	Created   time.Time
	Updated   time.Time
	Reactions []string // "eyes" etc. by the bot
}

// CheckRun is a check run as the fake keeps it.
type CheckRun struct {
	ID         int64
	Name       string
	HeadSHA    string
	ExternalID string
	Status     string
	Conclusion string
	Title      string
	Summary    string
	Text       string
	// Actions are the buttons it offers (GitHub's actions).
	Actions []Action
	// Updates counts PATCHes.
	Updates int
	// AppID made it (0: this App, AppID).
	AppID int64
}

// Action is a button on a check run.
type Action struct{ Label, Identifier, Description string }

// AddRepo creates a repository (with a bare git repository whose default
// branch is main) and installs the App on it.
func (s *Server) AddRepo(owner, name string) *Repo {
	s.mu.Lock()
	r := &Repo{
		ID: s.id(), Owner: owner, Name: name, DefaultBranch: "main",
		pulls: map[int]*Pull{}, permissions: map[string]string{},
	}
	key := strings.ToLower(r.FullName())
	s.repos[key] = r
	s.installations[InstallationID][key] = true
	s.mu.Unlock()
	s.initGit(r)
	return r
}

// AddPull adds or replaces a pull request.
func (s *Server) AddPull(repo *Repo, p Pull) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p.State == "" {
		p.State = "open"
	}
	if p.BaseRef == "" {
		p.BaseRef = repo.DefaultBranch
	}
	if p.MergeableState == "" {
		p.MergeableState = "clean"
	}
	cp := p
	repo.pulls[p.Number] = &cp
}

// UpdatePull changes a pull request in place.
func (s *Server) UpdatePull(repo *Repo, number int, change func(*Pull)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(repo.pulls[number])
}

// PullOf returns a copy of pull request number, if there is one.
func (s *Server) PullOf(repo *Repo, number int) (Pull, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := repo.pulls[number]
	if !ok {
		return Pull{}, false
	}
	return *p, true
}

// SetPermission gives a user a role on the repository.
func (s *Server) SetPermission(repo *Repo, user, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	repo.permissions[user] = role
}

// AddComment adds a comment by a person and returns its id.
func (s *Server) AddComment(repo *Repo, number int, user, body string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c := &Comment{ID: s.id(), Number: number, User: user, Body: body, Created: now, Updated: now}
	repo.comments = append(repo.comments, c)
	return c.ID
}

// Comments returns a PR's comments, oldest first.
func (s *Server) Comments(repo *Repo, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Comment
	for _, c := range repo.comments {
		if c.Number == number {
			out = append(out, *c)
		}
	}
	return out
}

// BotComments returns the comments the App posted on a PR.
func (s *Server) BotComments(repo *Repo, number int) []Comment {
	var out []Comment
	for _, c := range s.Comments(repo, number) {
		if c.IsBot {
			out = append(out, c)
		}
	}
	return out
}

// CheckRuns returns every check run of the repository.
func (s *Server) CheckRuns(repo *Repo) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CheckRun, len(repo.checkRuns))
	for i, c := range repo.checkRuns {
		out[i] = *c
	}
	return out
}

// AddCheckRun adds a check run of this App to the repository, as an
// earlier run of the bot would have made it, and returns its ID.
func (s *Server) AddCheckRun(repo *Repo, cr CheckRun) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	cr.ID = s.id()
	repo.checkRuns = append(repo.checkRuns, &cr)
	return cr.ID
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /app/installations/{id}/access_tokens", s.createToken)
	mux.HandleFunc("GET /repos/{owner}/{repo}", s.getRepo)
	mux.HandleFunc("GET /repos/{owner}/{repo}/contents/{path...}", s.getContents)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}", s.getPull)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/files", s.listFiles)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/reviews", s.listReviews)
	mux.HandleFunc("GET /repos/{owner}/{repo}/pulls/{number}/commits", s.listPullCommits)
	mux.HandleFunc("GET /repos/{owner}/{repo}/collaborators/{user}/permission", s.getPermission)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues/{number}/comments", s.listComments)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/{number}/comments", s.createComment)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/comments/{id}", s.editComment)
	mux.HandleFunc("DELETE /repos/{owner}/{repo}/issues/comments/{id}", s.deleteComment)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues/comments/{id}/reactions", s.createReaction)
	mux.HandleFunc("GET /orgs/{org}/teams/{team}/memberships/{user}", s.getTeamMembership)
	mux.HandleFunc("GET /repos/{owner}/{repo}/issues", s.listIssues)
	mux.HandleFunc("POST /repos/{owner}/{repo}/issues", s.createIssue)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/issues/{number}", s.editIssue)
	mux.HandleFunc("POST /repos/{owner}/{repo}/check-runs", s.createCheckRun)
	mux.HandleFunc("PATCH /repos/{owner}/{repo}/check-runs/{id}", s.updateCheckRun)
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/check-runs", s.listCheckRuns)
	mux.HandleFunc("GET /repos/{owner}/{repo}/commits/{ref}/pulls", s.listCommitPulls)
	mux.HandleFunc("POST /settings/apps/new", s.newApp)
	mux.HandleFunc("POST /organizations/{org}/settings/apps/new", s.newApp)
	mux.HandleFunc("POST /app-manifests/{code}/conversions", s.convertManifest)
	mux.HandleFunc("GET /login/oauth/authorize", s.oauthAuthorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.oauthAccessToken)
	mux.HandleFunc("GET /user", s.getUser)
	mux.Handle("/git/", s.gitHandler())
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { apiError(w, http.StatusNotFound, "Not Found") })
	return s.middleware(mux)
}

func (s *Server) repoJSON(r *http.Request, repo *Repo) *gogithub.Repository {
	return &gogithub.Repository{
		ID:            gogithub.Int64(repo.ID),
		Name:          gogithub.String(repo.Name),
		FullName:      gogithub.String(repo.FullName()),
		Owner:         &gogithub.User{Login: gogithub.String(repo.Owner), Type: gogithub.String("Organization")},
		Private:       gogithub.Bool(repo.Private),
		DefaultBranch: gogithub.String(repo.DefaultBranch),
		CloneURL:      gogithub.String(s.apiURL(r, "/git/"+repo.FullName()+".git")),
		HTMLURL:       gogithub.String("https://github.com/" + repo.FullName()),
		URL:           gogithub.String(s.apiURL(r, "/repos/"+repo.FullName())),
	}
}

func (s *Server) getRepo(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	out := s.repoJSON(r, repo)
	// Asked with a user's token, GitHub says what that user may do.
	tok, _ := tokenOf(r)
	if login := s.tokens[tok].user; login != "" {
		rank := map[string]int{"read": 1, "triage": 2, "write": 3, "maintain": 4, "admin": 5}[s.roleOf(repo, login)]
		out.Permissions = map[string]bool{"pull": rank >= 1, "triage": rank >= 2, "push": rank >= 3, "maintain": rank >= 4, "admin": rank >= 5}
	}
	writeJSON(w, http.StatusOK, out)
}

func user(login string) *gogithub.User {
	typ := "User"
	if strings.HasSuffix(login, "[bot]") {
		typ = "Bot"
	}
	return &gogithub.User{Login: gogithub.String(login), Type: gogithub.String(typ)}
}

func (s *Server) pull(w http.ResponseWriter, r *http.Request, repo *Repo) (*Pull, bool) {
	n, ok := pathInt(r, "number")
	p := repo.pulls[int(n)]
	if !ok || p == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return nil, false
	}
	return p, true
}

func (s *Server) getPull(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	p, ok := s.pull(w, r, repo)
	if !ok {
		return
	}
	base := s.repoJSON(r, repo)
	head := base
	if p.HeadRepo != "" {
		owner, name, _ := strings.Cut(p.HeadRepo, "/")
		head = &gogithub.Repository{Name: gogithub.String(name), FullName: gogithub.String(p.HeadRepo), Owner: user(owner), Fork: gogithub.Bool(true)}
	}
	pr := &gogithub.PullRequest{
		Number:         gogithub.Int(p.Number),
		State:          gogithub.String(p.State),
		Title:          gogithub.String(p.Title),
		User:           user(p.Author),
		Draft:          gogithub.Bool(p.Draft),
		Merged:         gogithub.Bool(p.Merged),
		MergeableState: gogithub.String(p.MergeableState),
		Head:           &gogithub.PullRequestBranch{Ref: gogithub.String(p.HeadRef), SHA: gogithub.String(p.HeadSHA), Repo: head},
		Base:           &gogithub.PullRequestBranch{Ref: gogithub.String(p.BaseRef), SHA: gogithub.String(p.BaseSHA), Repo: base},
		HTMLURL:        gogithub.String(fmt.Sprintf("https://github.com/%s/pull/%d", repo.FullName(), p.Number)),
		Commits:        gogithub.Int(s.commitCount(repo, p.BaseSHA, p.HeadSHA)),
		ChangedFiles:   gogithub.Int(len(s.pullFiles(repo, p))),
	}
	if p.MergeCommitSHA != "" {
		pr.MergeCommitSHA = gogithub.String(p.MergeCommitSHA)
	}
	if p.MergedBy != "" {
		pr.MergedBy = user(p.MergedBy)
	}
	pr.Labels = labels(p.Labels)
	writeJSON(w, http.StatusOK, pr)
}

func (s *Server) listFiles(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	p, ok := s.pull(w, r, repo)
	if !ok {
		return
	}
	files := s.pullFiles(repo, p)
	if len(files) > 3000 { // GitHub lists at most 3,000 files
		files = files[:3000]
	}
	out := make([]*gogithub.CommitFile, 0, len(files))
	for _, f := range files {
		cf := &gogithub.CommitFile{Filename: gogithub.String(f.Path), Status: gogithub.String(f.Status)}
		if f.Status == "" {
			cf.Status = gogithub.String("added")
		}
		if f.PreviousPath != "" {
			cf.PreviousFilename = gogithub.String(f.PreviousPath)
			cf.Status = gogithub.String("renamed")
		}
		out = append(out, cf)
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// pullFiles are the files a PR changes: those given, else the diff of its
// commits, as GitHub shows it. Caller holds s.mu.
func (s *Server) pullFiles(repo *Repo, p *Pull) []File {
	if p.Files == nil && p.BaseSHA != "" && p.HeadSHA != "" {
		return s.diffFiles(repo, p.BaseSHA, p.HeadSHA)
	}
	return p.Files
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	p, ok := s.pull(w, r, repo)
	if !ok {
		return
	}
	out := make([]*gogithub.PullRequestReview, 0, len(p.Reviews))
	for _, rv := range p.Reviews {
		out = append(out, &gogithub.PullRequestReview{
			ID: gogithub.Int64(rv.ID), User: user(rv.User), State: gogithub.String(rv.State), CommitID: gogithub.String(rv.CommitID),
		})
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// AddReview adds a review to a PR.
func (s *Server) AddReview(repo *Repo, number int, rv Review) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rv.ID = s.id()
	p := repo.pulls[number]
	p.Reviews = append(p.Reviews, rv)
}

func (s *Server) getPermission(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	login := r.PathValue("user")
	role := s.roleOf(repo, login)
	// permission is GitHub's legacy field: maintain shows as write and
	// triage as read.
	legacy := map[string]string{"maintain": "write", "triage": "read"}[role]
	if legacy == "" {
		legacy = role
	}
	writeJSON(w, http.StatusOK, map[string]any{"permission": legacy, "role_name": role, "user": user(login)})
}

func (s *Server) commentJSON(r *http.Request, repo *Repo, c *Comment) *gogithub.IssueComment {
	u := user(c.User)
	if c.IsBot {
		u.Type = gogithub.String("Bot")
	}
	return &gogithub.IssueComment{
		ID:        gogithub.Int64(c.ID),
		Body:      gogithub.String(c.Body),
		User:      u,
		CreatedAt: &gogithub.Timestamp{Time: c.Created},
		UpdatedAt: &gogithub.Timestamp{Time: c.Updated},
		HTMLURL:   gogithub.String(fmt.Sprintf("https://github.com/%s/pull/%d#issuecomment-%d", repo.FullName(), c.Number, c.ID)),
		IssueURL:  gogithub.String(s.apiURL(r, fmt.Sprintf("/repos/%s/issues/%d", repo.FullName(), c.Number))),
	}
}

func (s *Server) listComments(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if !s.issueOrPull(w, r, repo) {
		return
	}
	n, _ := pathInt(r, "number")
	var out []*gogithub.IssueComment
	for _, c := range repo.comments {
		if c.Number == int(n) {
			out = append(out, s.commentJSON(r, repo, c))
		}
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// maxCommentChars is GitHub's limit on a comment body.
const maxCommentChars = 65536

func validCommentBody(w http.ResponseWriter, body *string) bool {
	if body == nil || *body == "" {
		validationError(w, "IssueComment", "body", "missing_field", "body is missing")
		return false
	}
	if utf8.RuneCountInString(*body) > maxCommentChars {
		validationError(w, "IssueComment", "body", "custom", "body is too long (maximum is 65536 characters)")
		return false
	}
	return true
}

func (s *Server) createComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body *string `json:"body"`
	}
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if !s.issueOrPull(w, r, repo) {
		return
	}
	if !decodeBody(w, r, &in) || !validCommentBody(w, in.Body) {
		return
	}
	n, _ := pathInt(r, "number")
	now := s.now()
	c := &Comment{ID: s.id(), Number: int(n), User: BotLogin, IsBot: true, Body: *in.Body, Created: now, Updated: now}
	repo.comments = append(repo.comments, c)
	writeJSON(w, http.StatusCreated, s.commentJSON(r, repo, c))
}

func (s *Server) findComment(w http.ResponseWriter, r *http.Request, repo *Repo) (*Comment, bool) {
	id, ok := pathInt(r, "id")
	for _, c := range repo.comments {
		if ok && c.ID == id {
			return c, true
		}
	}
	apiError(w, http.StatusNotFound, "Not Found")
	return nil, false
}

func (s *Server) editComment(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Body *string `json:"body"`
	}
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	c, ok := s.findComment(w, r, repo)
	if !ok {
		return
	}
	if !c.IsBot {
		// An App may only edit its own comments.
		apiError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	if !decodeBody(w, r, &in) || !validCommentBody(w, in.Body) {
		return
	}
	c.Body = *in.Body
	c.Updated = s.now()
	writeJSON(w, http.StatusOK, s.commentJSON(r, repo, c))
}

// deleteComment is DELETE /repos/{owner}/{repo}/issues/comments/{id}: 204,
// or 404 for a comment that is not (or no longer) there.
func (s *Server) deleteComment(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	c, ok := s.findComment(w, r, repo)
	if !ok {
		return
	}
	repo.comments = slices.DeleteFunc(repo.comments, func(o *Comment) bool { return o == c })
	w.WriteHeader(http.StatusNoContent)
}

var reactionContents = map[string]bool{"+1": true, "-1": true, "laugh": true, "confused": true, "heart": true, "hooray": true, "rocket": true, "eyes": true}

func (s *Server) createReaction(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Content string `json:"content"`
	}
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	c, ok := s.findComment(w, r, repo)
	if !ok || !decodeBody(w, r, &in) {
		return
	}
	if !reactionContents[in.Content] {
		validationError(w, "Reaction", "content", "invalid", "content is not included in the list")
		return
	}
	status := http.StatusCreated
	for _, have := range c.Reactions {
		if have == in.Content {
			status = http.StatusOK // GitHub answers 200 with the existing reaction
		}
	}
	if status == http.StatusCreated {
		c.Reactions = append(c.Reactions, in.Content)
	}
	writeJSON(w, status, &gogithub.Reaction{ID: gogithub.Int64(s.id()), Content: gogithub.String(in.Content), User: user(BotLogin)})
}

var (
	checkStatuses    = map[string]bool{"queued": true, "in_progress": true, "completed": true, "waiting": true, "requested": true, "pending": true}
	checkConclusions = map[string]bool{"action_required": true, "cancelled": true, "failure": true, "neutral": true, "success": true, "skipped": true, "stale": true, "timed_out": true}
)

// maxCheckRunText is GitHub's limit on output.summary and output.text.
const maxCheckRunText = 65535

type checkRunInput struct {
	Name       *string `json:"name"`
	HeadSHA    *string `json:"head_sha"`
	ExternalID *string `json:"external_id"`
	Status     *string `json:"status"`
	Conclusion *string `json:"conclusion"`
	Output     *struct {
		Title   *string `json:"title"`
		Summary *string `json:"summary"`
		Text    *string `json:"text"`
	} `json:"output"`
	Actions *[]struct {
		Label       string `json:"label"`
		Identifier  string `json:"identifier"`
		Description string `json:"description"`
	} `json:"actions"`
}

// apply validates in and applies it to c, answering 422 as GitHub does.
func (in checkRunInput) apply(w http.ResponseWriter, c *CheckRun) bool {
	if in.Name != nil {
		c.Name = *in.Name
	}
	if in.ExternalID != nil {
		c.ExternalID = *in.ExternalID
	}
	if in.Status != nil {
		if !checkStatuses[*in.Status] {
			validationError(w, "CheckRun", "status", "invalid", "status is not included in the list")
			return false
		}
		c.Status = *in.Status
	}
	if in.Actions != nil {
		// GitHub's limits: three actions; label 20, identifier 20 and
		// description 40 characters.
		if len(*in.Actions) > 3 {
			validationError(w, "CheckRun", "actions", "custom", "Only 3 actions are allowed")
			return false
		}
		c.Actions = nil
		for _, a := range *in.Actions {
			if a.Label == "" || utf8.RuneCountInString(a.Label) > 20 || a.Identifier == "" || utf8.RuneCountInString(a.Identifier) > 20 || a.Description == "" || utf8.RuneCountInString(a.Description) > 40 {
				validationError(w, "CheckRun", "actions", "custom", "action label and identifier must be 1 to 20 characters, description 1 to 40")
				return false
			}
			c.Actions = append(c.Actions, Action{Label: a.Label, Identifier: a.Identifier, Description: a.Description})
		}
	}
	if in.Conclusion != nil {
		if !checkConclusions[*in.Conclusion] {
			validationError(w, "CheckRun", "conclusion", "invalid", "conclusion is not included in the list")
			return false
		}
		c.Conclusion = *in.Conclusion
		c.Status = "completed" // GitHub completes a run given a conclusion
	}
	if c.Status == "completed" && c.Conclusion == "" {
		validationError(w, "CheckRun", "conclusion", "missing_field", "conclusion is required when status is completed")
		return false
	}
	if o := in.Output; o != nil {
		if o.Title == nil || o.Summary == nil {
			validationError(w, "CheckRun", "output", "missing_field", "output requires title and summary")
			return false
		}
		if utf8.RuneCountInString(*o.Summary) > maxCheckRunText || (o.Text != nil && utf8.RuneCountInString(*o.Text) > maxCheckRunText) {
			validationError(w, "CheckRun", "output", "custom", "Only 65535 characters are allowed")
			return false
		}
		c.Title, c.Summary = *o.Title, *o.Summary
		if o.Text != nil {
			c.Text = *o.Text
		}
	}
	return true
}

func (s *Server) checkRunJSON(c *CheckRun) *gogithub.CheckRun {
	cr := &gogithub.CheckRun{
		ID: gogithub.Int64(c.ID), Name: gogithub.String(c.Name), HeadSHA: gogithub.String(c.HeadSHA),
		Status: gogithub.String(c.Status), ExternalID: gogithub.String(c.ExternalID),
		Output: &gogithub.CheckRunOutput{Title: gogithub.String(c.Title), Summary: gogithub.String(c.Summary), Text: gogithub.String(c.Text)},
		App:    &gogithub.App{ID: gogithub.Int64(c.app()), Slug: gogithub.String("stagebot")},
	}
	if c.app() != AppID {
		cr.App.Slug = gogithub.String("another-ci")
	}
	if c.Conclusion != "" {
		cr.Conclusion = gogithub.String(c.Conclusion)
	}
	return cr
}

func (s *Server) createCheckRun(w http.ResponseWriter, r *http.Request) {
	var in checkRunInput
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	if !decodeBody(w, r, &in) {
		return
	}
	if in.Name == nil || *in.Name == "" || in.HeadSHA == nil || *in.HeadSHA == "" {
		validationError(w, "CheckRun", "name", "missing_field", "name and head_sha are required")
		return
	}
	c := &CheckRun{HeadSHA: *in.HeadSHA, Status: "queued"}
	if !in.apply(w, c) {
		return
	}
	c.ID = s.id()
	repo.checkRuns = append(repo.checkRuns, c)
	writeJSON(w, http.StatusCreated, s.checkRunJSON(c))
}

func (s *Server) updateCheckRun(w http.ResponseWriter, r *http.Request) {
	var in checkRunInput
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	id, _ := pathInt(r, "id")
	var c *CheckRun
	for _, cr := range repo.checkRuns {
		if cr.ID == id {
			c = cr
		}
	}
	if c == nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	if c.app() != AppID {
		// Only the App that made a check run may change it.
		apiError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	if !decodeBody(w, r, &in) {
		return
	}
	next := *c
	if !in.apply(w, &next) {
		return
	}
	next.Updates++
	*c = next
	writeJSON(w, http.StatusOK, s.checkRunJSON(c))
}

func (s *Server) listCheckRuns(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	ref, name, app := r.PathValue("ref"), r.URL.Query().Get("check_name"), r.URL.Query().Get("app_id")
	var runs []*gogithub.CheckRun
	for i := len(repo.checkRuns) - 1; i >= 0; i-- { // newest first
		c := repo.checkRuns[i]
		if c.HeadSHA == ref && (name == "" || c.Name == name) && (app == "" || app == strconv.FormatInt(c.app(), 10)) {
			runs = append(runs, s.checkRunJSON(c))
		}
	}
	total := len(runs)
	writeJSON(w, http.StatusOK, map[string]any{"total_count": total, "check_runs": paginate(w, r, runs)})
}

// roleOf is a user's role on the repository: what SetPermission gave, else
// read on a public repository and none on a private one. Caller holds s.mu.
func (s *Server) roleOf(repo *Repo, login string) string {
	if role, known := repo.permissions[login]; known {
		return role
	}
	if repo.Private {
		return "none"
	}
	return "read"
}

// app is the App that made the check run.
func (c *CheckRun) app() int64 {
	if c.AppID == 0 {
		return AppID
	}
	return c.AppID
}

// AddForeignCheckRun adds a check run made by another App (a CI) on sha,
// the way GitHub lists them side by side, and returns its id.
func (s *Server) AddForeignCheckRun(repo *Repo, sha, name string, appID int64) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := &CheckRun{ID: s.id(), Name: name, HeadSHA: sha, Status: "completed", Conclusion: "success", Title: "another App's", AppID: appID}
	repo.checkRuns = append(repo.checkRuns, c)
	return c.ID
}
