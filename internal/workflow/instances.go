package workflow

import (
	"context"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// removedVars reads the files of the instances a change deletes as they
// are on the base commit (from git, not from the checkout): their
// destroys are planned with them.
func (w *Workflow) removedVars(ctx context.Context, client GitHub, repo gh.Repo, base string, affected []stages.Affected) (map[string][]byte, error) {
	var paths []string
	for _, a := range affected {
		if a.Removed {
			paths = append(paths, a.Stage.VarFile)
		}
	}
	if len(paths) == 0 || base == "" {
		return nil, nil
	}
	clone, err := client.CloneInfo(ctx, repo)
	if err != nil {
		return nil, err
	}
	files, err := w.Runner.ReadFiles(ctx, runner.Source{URL: clone.URL, Token: clone.Token}, base, paths)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, a := range affected {
		if c, ok := files[a.Stage.VarFile]; ok && a.Removed {
			out[a.Stage.Name] = c
		}
	}
	return out, nil
}
