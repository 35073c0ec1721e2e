package workflow

import (
	"context"

	gh "github.com/stagebot/stagebot/internal/github"
)

// checkRunsOf is GitHub for one plan of a PR's commit: the commit's check
// runs are found from one listing of them, made at the first question. A
// PR with 500 instances asks GitHub once, not 500 times. Check runs it
// creates on the commit are added as they are. (The PR's reviews are read
// once per turn: see turn.approvals.)
type checkRunsOf struct {
	GitHub
	sha string
	ids map[string]int64
}

func newCheckRunsOf(client GitHub, sha string) *checkRunsOf {
	return &checkRunsOf{GitHub: client, sha: sha}
}

func (c *checkRunsOf) FindCheckRun(ctx context.Context, repo gh.Repo, sha, name string) (int64, error) {
	if sha != c.sha {
		return c.GitHub.FindCheckRun(ctx, repo, sha, name)
	}
	if c.ids == nil {
		ids, err := c.GitHub.CheckRunsOn(ctx, repo, sha)
		if err != nil {
			return 0, err
		}
		c.ids = ids
	}
	return c.ids[name], nil
}

func (c *checkRunsOf) CreateCheckRun(ctx context.Context, repo gh.Repo, cr gh.CheckRun) (int64, error) {
	id, err := c.GitHub.CreateCheckRun(ctx, repo, cr)
	if err == nil && cr.HeadSHA == c.sha && c.ids != nil {
		c.ids[cr.Name] = id
	}
	return id, err
}
