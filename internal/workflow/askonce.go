package workflow

import (
	"context"

	gh "github.com/stagebot/stagebot/internal/github"
)

// askOnce answers each role and team-membership question GitHub is asked
// during one command once: the command checks the author up front, again
// per stage it reaches, and the reviewers for its requirements. Errors are
// not kept, so a failed question is asked again.
type askOnce struct {
	GitHub
	roles   map[string]string // repo\x00user -> role
	members map[string]bool   // team\x00user -> member
}

func newAskOnce(client GitHub) *askOnce {
	if a, ok := client.(*askOnce); ok {
		return a
	}
	return &askOnce{GitHub: client, roles: map[string]string{}, members: map[string]bool{}}
}

func (a *askOnce) Permission(ctx context.Context, repo gh.Repo, user string) (string, error) {
	key := repo.FullName() + "\x00" + user
	if role, ok := a.roles[key]; ok {
		return role, nil
	}
	role, err := a.GitHub.Permission(ctx, repo, user)
	if err == nil {
		a.roles[key] = role
	}
	return role, err
}

func (a *askOnce) TeamMember(ctx context.Context, team, user string) (bool, error) {
	key := team + "\x00" + user
	if m, ok := a.members[key]; ok {
		return m, nil
	}
	m, err := a.GitHub.TeamMember(ctx, team, user)
	if err == nil {
		a.members[key] = m
	}
	return m, err
}
