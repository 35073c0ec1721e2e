package githubtest

import (
	"cmp"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	gogithub "github.com/google/go-github/v60/github"
)

// AddInstallation installs the App on one more account and returns the
// installation's id; AddRepoIn adds repositories to it.
func (s *Server) AddInstallation() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := InstallationID + 1
	for s.installations[id] != nil {
		id++
	}
	s.installations[id] = map[string]bool{}
	return id
}

// AddRepoIn creates a repository as AddRepo does, in installation inst (of
// AddInstallation) instead of the default one: as on GitHub, it is in one
// installation of the App only.
func (s *Server) AddRepoIn(inst int64, owner, name string) *Repo {
	r := s.AddRepo(owner, name)
	key := strings.ToLower(r.FullName())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.installations[inst] == nil {
		panic(fmt.Sprintf("githubtest: no installation %d", inst))
	}
	delete(s.installations[InstallationID], key)
	s.installations[inst][key] = true
	return r
}

// withAppRoutes serves the endpoints about the App's installations, and
// everything else with rest (which records its requests itself).
func (s *Server) withAppRoutes(rest http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /app/installations", s.middleware(http.HandlerFunc(s.listInstallations)))
	mux.Handle("GET /installation/repositories", s.middleware(http.HandlerFunc(s.listInstallationRepos)))
	mux.Handle("/", rest)
	return mux
}

// installed reports whether any installation of the App reaches the
// repository (its lower-cased full name). Caller holds s.mu.
func (s *Server) installed(key string) bool {
	for _, repos := range s.installations {
		if repos[key] {
			return true
		}
	}
	return false
}

// installationRepos are the repositories of an installation, by full name.
// Caller holds s.mu.
func (s *Server) installationRepos(inst int64) []*Repo {
	var out []*Repo
	for key := range s.installations[inst] {
		out = append(out, s.repos[key])
	}
	slices.SortFunc(out, func(a, b *Repo) int { return cmp.Compare(a.FullName(), b.FullName()) })
	return out
}

// listInstallations is GET /app/installations: the App's installations,
// paginated, for the App's JWT only (401 otherwise, an installation's or a
// user's token included).
func (s *Server) listInstallations(w http.ResponseWriter, r *http.Request) {
	if !s.appJWT(w, r) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Sorted(maps.Keys(s.installations))
	out := make([]*gogithub.Installation, 0, len(ids))
	for _, id := range ids {
		inst := &gogithub.Installation{
			ID:                  gogithub.Int64(id),
			AppID:               gogithub.Int64(AppID),
			TargetType:          gogithub.String("Organization"),
			RepositorySelection: gogithub.String("selected"),
			AccessTokensURL:     gogithub.String(s.apiURL(r, fmt.Sprintf("/app/installations/%d/access_tokens", id))),
			RepositoriesURL:     gogithub.String(s.apiURL(r, "/installation/repositories")),
		}
		// An installation is on one account: its repositories' owner.
		if repos := s.installationRepos(id); len(repos) > 0 {
			inst.Account = &gogithub.User{Login: gogithub.String(repos[0].Owner), Type: gogithub.String("Organization")}
		}
		out = append(out, inst)
	}
	writeJSON(w, http.StatusOK, paginate(w, r, out))
}

// listInstallationRepos is GET /installation/repositories: the
// repositories of the installation whose token the request carries,
// paginated, with their total count. No token or a bad one is 401; a
// user's token is refused (403): it is no installation's.
func (s *Server) listInstallationRepos(w http.ResponseWriter, r *http.Request) {
	tok, ok := tokenOf(r)
	if !ok || tok == "" {
		apiError(w, http.StatusUnauthorized, "Requires authentication")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inst := s.installationFor(tok)
	switch {
	case inst == 0:
		apiError(w, http.StatusUnauthorized, "Bad credentials")
		return
	case s.tokens[tok].user != "":
		apiError(w, http.StatusForbidden, "You must authenticate with an installation access token in order to list repositories for an installation.")
		return
	}
	repos := s.installationRepos(inst)
	page := paginate(w, r, repos)
	out := make([]*gogithub.Repository, len(page))
	for i, repo := range page {
		out[i] = s.repoJSON(r, repo)
	}
	writeJSON(w, http.StatusOK, map[string]any{"total_count": len(repos), "repository_selection": "selected", "repositories": out})
}
