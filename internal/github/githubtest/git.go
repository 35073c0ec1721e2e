package githubtest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

func (s *Server) bareDir(r *Repo) string {
	return filepath.Join(s.gitRoot, r.Owner, r.Name+".git")
}

func (s *Server) workTree(r *Repo) string {
	return filepath.Join(s.workDir, r.Owner, r.Name)
}

// git runs git in dir and returns its trimmed output; failures panic, since
// they are bugs of the test setup.
func git(dir string, args ...string) string {
	return gitAs(nil, dir, args...)
}

// gitAs is git with more environment (an author's identity) last.
func gitAs(env []string, dir string, args ...string) string {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(),
		"GIT_AUTHOR_NAME=test", "GIT_AUTHOR_EMAIL=test@example.com",
		"GIT_COMMITTER_NAME=test", "GIT_COMMITTER_EMAIL=test@example.com",
		"GIT_CONFIG_NOSYSTEM=1", "HOME="+dir), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		panic(fmt.Sprintf("git %s in %s: %v: %s", strings.Join(args, " "), dir, err, errb.String()))
	}
	return strings.TrimSpace(out.String())
}

func (s *Server) initGit(r *Repo) {
	bare, work := s.bareDir(r), s.workTree(r)
	for _, d := range []string{bare, work} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			panic(err)
		}
	}
	git(bare, "init", "--bare", "--initial-branch="+r.DefaultBranch)
	// GitHub serves any reachable commit by SHA.
	git(bare, "config", "uploadpack.allowReachableSHA1InWant", "true")
	git(work, "init", "--initial-branch="+r.DefaultBranch)
	git(work, "remote", "add", "origin", bare)
}

// Commit writes files (path -> content; empty content deletes the file) on
// branch, which starts from from when it is new (e.g. "main"), pushes it and
// returns the commit SHA. A path "symlink:P" makes P a symbolic link to the
// content, as git stores one; "exec:P" makes P an executable file (mode
// 100755).
func (s *Server) Commit(r *Repo, branch, from string, files map[string]string, message string) string {
	return s.commit(r, "", branch, from, files, message)
}

// commit is Commit by login ("": the test's anonymous author).
func (s *Server) commit(r *Repo, login, branch, from string, files map[string]string, message string) string {
	s.mu.Lock() // one git writer at a time
	defer s.mu.Unlock()
	work := s.workTree(r)
	if git(work, "branch", "--list", branch) != "" {
		git(work, "checkout", "-q", branch)
	} else if from != "" && git(work, "branch", "--list", from) != "" {
		git(work, "checkout", "-q", "-b", branch, from)
	} else {
		git(work, "checkout", "-q", "--orphan", branch)
	}
	for path, content := range files {
		if link, ok := strings.CutPrefix(path, "symlink:"); ok {
			full := filepath.Join(work, link)
			os.MkdirAll(filepath.Dir(full), 0o755)
			os.Remove(full)
			if err := os.Symlink(content, full); err != nil {
				panic(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if p, ok := strings.CutPrefix(path, "exec:"); ok {
			path, mode = p, 0o755
		}
		full := filepath.Join(work, path)
		if content == "" {
			os.Remove(full)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			panic(err)
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			panic(err)
		}
		if err := os.Chmod(full, mode); err != nil {
			panic(err)
		}
	}
	git(work, "add", "-A")
	gitAs(identity(login), work, "commit", "-q", "--allow-empty", "-m", message)
	git(work, "push", "-q", "-f", "origin", branch)
	return git(work, "rev-parse", "HEAD")
}

// gitHandler serves git smart HTTP through git http-backend at
// /git/OWNER/NAME.git, to clients that authenticate with an installation
// token (user x-access-token) that can access the repository.
func (s *Server) gitHandler() http.Handler {
	gitPath, err := exec.LookPath("git")
	if err != nil {
		panic("githubtest needs git on PATH: " + err.Error())
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Root: "/git",
		Env:  []string{"GIT_PROJECT_ROOT=" + s.gitRoot, "GIT_HTTP_EXPORT_ALL=1"},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/git/")
		owner, rest, _ := strings.Cut(rest, "/")
		name, _, _ := strings.Cut(rest, ".git")
		_, pass, ok := r.BasicAuth()
		s.mu.Lock()
		inst := s.installationFor(pass)
		key := strings.ToLower(owner + "/" + name)
		_, exists := s.repos[key]
		allowed := ok && inst != 0 && exists && s.installations[inst][key]
		s.mu.Unlock()
		if !allowed {
			// Like GitHub: ask for credentials, and do not tell whether the
			// repository exists.
			w.Header().Set("WWW-Authenticate", `Basic realm="GitHub"`)
			http.Error(w, "Invalid username or token.", http.StatusUnauthorized)
			return
		}
		if strings.Contains(r.URL.Path, "git-receive-pack") || r.URL.Query().Get("service") == "git-receive-pack" {
			http.Error(w, "Write access to repository not granted.", http.StatusForbidden)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// getContents is GET /repos/{owner}/{repo}/contents/{path}?ref=, read from
// the git repository.
func (s *Server) getContents(w http.ResponseWriter, r *http.Request) {
	repo, ok := s.requireRepo(w, r)
	if !ok {
		return
	}
	bare := s.bareDir(repo)
	ref := r.URL.Query().Get("ref")
	if ref == "" {
		ref = repo.DefaultBranch
	}
	s.mu.Unlock()
	path := r.PathValue("path")
	cmd := exec.Command("git", "cat-file", "blob", ref+":"+path)
	cmd.Dir = bare
	content, err := cmd.Output()
	if err != nil {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	shaCmd := exec.Command("git", "rev-parse", ref+":"+path)
	shaCmd.Dir = bare
	sha, _ := shaCmd.Output()
	writeJSON(w, http.StatusOK, &gogithub.RepositoryContent{
		Type:     gogithub.String("file"),
		Encoding: gogithub.String("base64"),
		Name:     gogithub.String(filepath.Base(path)),
		Path:     gogithub.String(path),
		Size:     gogithub.Int(len(content)),
		SHA:      gogithub.String(strings.TrimSpace(string(sha))),
		Content:  gogithub.String(base64.StdEncoding.EncodeToString(content)),
	})
}

// diffFiles lists the files changed from base to head (three-dot, as a PR
// shows them), with renames.
func (s *Server) diffFiles(r *Repo, base, head string) []File {
	cmd := exec.Command("git", "diff", "--name-status", "-M", "-z", base+"..."+head)
	cmd.Dir = s.bareDir(r)
	out, err := cmd.Output()
	if err != nil {
		return nil
	}
	var files []File
	f := strings.Split(strings.TrimRight(string(out), "\x00"), "\x00")
	status := map[byte]string{'A': "added", 'M': "modified", 'D': "removed", 'R': "renamed", 'C': "copied", 'T': "changed"}
	for i := 0; i+1 < len(f); {
		st := f[i]
		if st == "" {
			i++
			continue
		}
		if st[0] == 'R' || st[0] == 'C' {
			if i+2 >= len(f) {
				break
			}
			files = append(files, File{PreviousPath: f[i+1], Path: f[i+2], Status: status[st[0]]})
			i += 3
			continue
		}
		files = append(files, File{Path: f[i+1], Status: status[st[0]]})
		i += 2
	}
	return files
}

// Merge merges a PR's head branch into its base with a merge commit, as the
// merge button does when its author presses it, and marks the PR merged.
// It returns the merge commit.
func (s *Server) Merge(r *Repo, number int) string {
	s.mu.Lock()
	author := r.pulls[number].Author
	s.mu.Unlock()
	return s.MergeAs(r, number, author)
}

// MergeAs merges a PR as user (GitHub's merged_by).
func (s *Server) MergeAs(r *Repo, number int, user string) string {
	s.mu.Lock()
	p := r.pulls[number]
	p.MergedBy = user
	head, base := p.HeadRef, p.BaseRef
	s.mu.Unlock()
	s.mu.Lock()
	work := s.workTree(r)
	git(work, "checkout", "-q", base)
	git(work, "merge", "-q", "--no-ff", "-m", fmt.Sprintf("Merge pull request #%d", number), head)
	git(work, "push", "-q", "origin", base)
	sha := git(work, "rev-parse", "HEAD")
	p.Merged, p.State, p.MergeCommitSHA = true, "closed", sha
	s.mu.Unlock()
	return sha
}
