package workflow

import (
	"context"

	gh "github.com/stagebot/stagebot/internal/github"
)

// checkRunsOf is GitHub for one plan of a PR's commit: the commit's check
// runs are found from one listing of them, made at the first question, and
// the PR's reviews are read once, for the Apply buttons of all its stages.
// A PR with 500 instances asks GitHub once for each, not 500 times. Check
// runs it creates on the commit are added as they are. (/apply reads the
// reviews anew: a button is a hint, the command decides.)
type checkRunsOf struct {
	GitHub
	sha     string
	ids     map[string]int64
	reviews map[int][]gh.Review
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

func (c *checkRunsOf) Reviews(ctx context.Context, repo gh.Repo, number int) ([]gh.Review, error) {
	if r, ok := c.reviews[number]; ok {
		return r, nil
	}
	r, err := c.GitHub.Reviews(ctx, repo, number)
	if err == nil {
		if c.reviews == nil {
			c.reviews = map[int][]gh.Review{}
		}
		c.reviews[number] = r
	}
	return r, err
}
