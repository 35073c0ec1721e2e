package githubtest

import (
	"net/http"
	"strings"
)

// AddTeamMember makes user an active member of the organization's team
// (its slug).
func (s *Server) AddTeamMember(org, team, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.teams == nil {
		s.teams = map[string]map[string]bool{}
	}
	key := strings.ToLower(org + "/" + team)
	if s.teams[key] == nil {
		s.teams[key] = map[string]bool{}
	}
	s.teams[key][strings.ToLower(user)] = true
}

// WithoutMembersPermission makes the installation one that has not been
// granted the organization permission members: read (an App installed
// before it asked for it, whose owner did not accept the new permission):
// GitHub then answers team endpoints 403.
func (s *Server) WithoutMembersPermission() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noMembers = true
}

// getTeamMembership answers as GitHub does: 200 with the membership of an
// active member, 404 for anyone else, or for a team that does not exist
// (GitHub does not tell them apart); 401 without an installation token.
func (s *Server) getTeamMembership(w http.ResponseWriter, r *http.Request) {
	tok, ok := tokenOf(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok || s.installationFor(tok) == 0 {
		apiError(w, http.StatusUnauthorized, "Requires authentication")
		return
	}
	if s.noMembers {
		apiError(w, http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	key := strings.ToLower(r.PathValue("org") + "/" + r.PathValue("team"))
	login := r.PathValue("user")
	if !s.teams[key][strings.ToLower(login)] {
		apiError(w, http.StatusNotFound, "Not Found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"role": "member", "state": "active", "url": s.srv.URL + "/teams/1/memberships/" + login})
}
