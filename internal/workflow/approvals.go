package workflow

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
)

// approvals returns who approved the PR's head, counting only reviewers
// with write permission or more who are not its author, and why the PR is
// not approved ("" when it is): such a reviewer's latest review requests
// changes, or none approved the head. On a public repository anyone can
// review; only those who could push count.
func (w *Workflow) approvals(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest) ([]string, string, error) {
	reviews, err := client.Reviews(ctx, repo, pr.Number)
	if err != nil {
		return nil, "", err
	}
	latest := map[string]gh.Review{}
	for _, r := range reviews {
		if r.User == pr.Author || r.State == "COMMENTED" || r.State == "PENDING" {
			continue
		}
		latest[r.User] = r
	}
	var approvers, blocking, ignored []string
	for _, user := range sortedKeys(latest) {
		role, err := client.Permission(ctx, repo, user)
		if err != nil {
			return nil, "", err
		}
		if slices.Index(config.Roles, role) < slices.Index(config.Roles, "write") {
			ignored = append(ignored, user)
			continue
		}
		switch r := latest[user]; {
		case r.State == "CHANGES_REQUESTED":
			blocking = append(blocking, user)
		case r.State == "APPROVED" && r.CommitID == pr.HeadSHA:
			approvers = append(approvers, user)
		}
	}
	switch {
	case len(blocking) > 0:
		return approvers, fmt.Sprintf("@%s requested changes.", strings.Join(blocking, ", @")), nil
	case len(approvers) == 0:
		why := "nobody with write permission but the author approved the current commit " + comments.ShortSHA(pr.HeadSHA) + "."
		if len(ignored) > 0 {
			why += fmt.Sprintf(" (Reviews by @%s do not count: they cannot write to the repository.)", strings.Join(ignored, ", @"))
		}
		return nil, why, nil
	}
	return approvers, "", nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// mergeRules says why a merged PR's merge commit may not be applied, and
// what to do instead ("" when it may): the apply rules hold for merges as
// for /apply. The merger, or an approver, must have the apply permission;
// the head must be approved when the stages require it. `mergeable` is met
// by the merge itself, and `fresh` by planning the merge commit now, right
// before applying it, and only while it is the tip of the default branch.
func (w *Workflow) mergeRules(ctx context.Context, client GitHub, repo gh.Repo, pr gh.PullRequest, cfg *config.Repo) (string, string, error) {
	needApproval := slices.Contains(cfg.Apply.Requirements, config.RequireApproved)
	for _, s := range cfg.Stages {
		needApproval = needApproval || slices.Contains(s.Requirements, config.RequireApproved)
	}
	approvers, why, err := w.approvals(ctx, client, repo, pr)
	if err != nil {
		return "", "", err
	}
	if needApproval && why != "" {
		return "its head was not approved: " + why, "get the change approved in a new pull request, then merge that.", nil
	}
	need := cfg.Apply.Permission
	for _, user := range append([]string{pr.MergedBy}, approvers...) {
		if user == "" {
			continue
		}
		ok, _, err := w.allowed(ctx, client, repo, user, need, cfg)
		if err != nil {
			return "", "", err
		}
		if ok {
			return "", "", nil
		}
	}
	return fmt.Sprintf("neither who merged it (@%s) nor an approver may apply: that needs the `%s` role or higher, or a place in `apply.users`.", pr.MergedBy, need),
		"someone who may apply approves the change in a new pull request, or merges it.", nil
}
