package githubtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	gogithub "github.com/google/go-github/v60/github"
)

// noreplyDomain is where GitHub's private commit emails live: a commit
// whose author email is LOGIN@users.noreply.github.com is shown as LOGIN's.
const noreplyDomain = "users.noreply.github.com"

// CommitAs is Commit with the commit authored and committed by a GitHub
// user (through the user's noreply email, which GitHub maps to the login).
func (s *Server) CommitAs(r *Repo, login, branch, from string, files map[string]string, message string) string {
	return s.commit(r, login, branch, from, files, message)
}

// identity is the git environment of a commit by login: the test's
// anonymous author for "", else the user's noreply identity.
func identity(login string) []string {
	if login == "" {
		return nil
	}
	email := login + "@" + noreplyDomain
	return []string{"GIT_AUTHOR_NAME=" + login, "GIT_AUTHOR_EMAIL=" + email, "GIT_COMMITTER_NAME=" + login, "GIT_COMMITTER_EMAIL=" + email}
}

// listPullCommits serves GET /repos/{owner}/{repo}/pulls/{number}/commits:
// the PR's commits (base..head), oldest first, at most 250 as GitHub lists,
// each with the GitHub user its author and committer emails belong to
// (null when the email is nobody's).
func (s *Server) listPullCommits(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	p, ok := s.pull(w, r, repo)
	if !ok {
		return
	}
	cmd := exec.Command("git", "log", "--reverse", "--format=%H%x00%ae%x00%ce", p.BaseSHA+".."+p.HeadSHA)
	cmd.Dir = s.bareDir(repo)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.Output()
	if err != nil {
		apiError(w, http.StatusNotFound, fmt.Sprintf("Not Found: %v", err))
		return
	}
	commits := []*gogithub.RepositoryCommit{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\x00")
		if len(f) != 3 {
			continue
		}
		commits = append(commits, &gogithub.RepositoryCommit{SHA: gogithub.String(f[0]), Author: emailUser(f[1]), Committer: emailUser(f[2])})
	}
	if len(commits) > 250 {
		commits = commits[:250]
	}
	writeJSON(w, http.StatusOK, paginate(w, r, commits))
}

// listCommitPulls serves GET /repos/{owner}/{repo}/commits/{sha}/pulls:
// the merged PRs a commit of the default branch came in with (its merge
// commit, or a head of it) and the open PRs whose head it is, as GitHub
// associates them. A commit pushed straight to a branch has none.
func (s *Server) listCommitPulls(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	defer s.mu.Unlock()
	sha := r.PathValue("ref")
	out := []*gogithub.PullRequest{}
	for _, n := range slices.Sorted(maps.Keys(repo.pulls)) {
		p := repo.pulls[n]
		if p.MergeCommitSHA == sha || p.HeadSHA == sha {
			pr := &gogithub.PullRequest{Number: gogithub.Int(p.Number), State: gogithub.String(p.State),
				MergeCommitSHA: gogithub.String(p.MergeCommitSHA), Base: &gogithub.PullRequestBranch{Ref: gogithub.String(p.BaseRef)}}
			if p.Merged {
				pr.MergedAt = &gogithub.Timestamp{Time: time.Now()}
			}
			out = append(out, pr)
		}
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// commitCount is how many commits base..head holds, as a PR's "commits"
// field counts them (all of them, where its commit list stops at 250).
func (s *Server) commitCount(r *Repo, base, head string) int {
	if base == "" || head == "" {
		return 0
	}
	cmd := exec.Command("git", "rev-list", "--count", base+".."+head)
	cmd.Dir = s.bareDir(r)
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// emailUser is the GitHub user of a commit email, nil for an unknown one.
func emailUser(email string) *gogithub.User {
	login, ok := strings.CutSuffix(email, "@"+noreplyDomain)
	if !ok || login == "" {
		return nil
	}
	return user(login)
}

// PushToPull commits files on PR number's head branch as login ("" for the
// test's anonymous author), moves the PR's head there, and returns the new
// head and the synchronize delivery GitHub sends for the push, whose
// sender is the pusher.
func (s *Server) PushToPull(r *Repo, number int, login, pusher string, files map[string]string) (string, []byte) {
	s.mu.Lock()
	branch := r.pulls[number].HeadRef
	s.mu.Unlock()
	head := s.commit(r, login, branch, "", files, "push to "+branch)
	s.UpdatePull(r, number, func(p *Pull) { p.HeadSHA = head })
	var ev gogithub.PullRequestEvent
	if err := json.Unmarshal(s.PullRequestPayload(r, number, "synchronize", 0), &ev); err != nil {
		panic(err)
	}
	ev.Sender = user(pusher)
	return head, mustJSON(&ev)
}
