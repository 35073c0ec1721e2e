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

// approvalFacts are who approved a PR's head under the two-person rule,
// and why it is not approved ("" when it is).
type approvalFacts struct {
	approvers []string
	why       string
}

// approvals returns who approved the PR's head, and why the PR is not
// approved ("" when it is): a counted reviewer's latest review requests
// changes, or none approved the head. A review counts only from a writer
// (on a public repository anyone can review; only those who could push
// count) who is not one of the PR's makers (see makers): nobody approves
// their own change. Read once per turn.
func (t *turn) approvals(ctx context.Context) ([]string, string, error) {
	if t.approval != nil {
		return t.approval.approvers, t.approval.why, nil
	}
	if why, err := t.unknownPusher(ctx); err != nil {
		return nil, "", err // not kept: asked again
	} else if why != "" {
		t.approval = &approvalFacts{why: why}
		return nil, why, nil
	}
	makers, err := t.makers(ctx)
	if err != nil {
		return nil, "", err
	}
	reviews, err := t.client.Reviews(ctx, t.repo, t.pr.Number)
	if err != nil {
		return nil, "", err
	}
	latest := map[string]gh.Review{}
	var own []string
	for _, r := range reviews {
		if r.State == "COMMENTED" || r.State == "PENDING" {
			continue
		}
		if makers[strings.ToLower(r.User)] {
			if r.State == "APPROVED" && !slices.Contains(own, r.User) {
				own = append(own, r.User)
			}
			continue
		}
		latest[r.User] = r
	}
	var approvers, blocking, ignored []string
	for _, user := range sortedKeys(latest) {
		role, err := t.client.Permission(ctx, t.repo, user)
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
		case r.State == "APPROVED" && r.CommitID == t.pr.HeadSHA:
			approvers = append(approvers, user)
		}
	}
	var why string
	switch {
	case len(blocking) > 0:
		why = fmt.Sprintf("@%s requested changes.", strings.Join(blocking, ", @"))
	case len(approvers) == 0:
		why = "nobody with write permission who neither opened nor pushed to this pull request approved the current commit " + comments.ShortSHA(t.pr.HeadSHA) + "."
		if len(own) > 0 {
			why += fmt.Sprintf(" (Approvals by @%s do not count: they opened or pushed to this pull request.)", strings.Join(own, ", @"))
		}
		if len(ignored) > 0 {
			why += fmt.Sprintf(" (Reviews by @%s do not count: they cannot write to the repository.)", strings.Join(ignored, ", @"))
		}
	}
	t.approval = &approvalFacts{approvers: approvers, why: why}
	return approvers, why, nil
}

// maxListedCommits is how many of a PR's commits GitHub lists.
const maxListedCommits = 250

// unknownPusher says why nobody can tell who made the PR's head ("" when
// GitHub announced the push that brought it, opened or synchronize, and
// lists all its commits). A head reached otherwise (pushed while the PR
// was closed, to a fork, by a workflow, or whose delivery was lost), or
// with commits GitHub does not list, may be anyone's, so no approval of
// it counts.
func (t *turn) unknownPusher(ctx context.Context) (string, error) {
	seen, err := t.w.Store.HeadSeen(ctx, t.repo.FullName(), t.pr.Number, t.pr.HeadSHA)
	if err != nil || (seen && t.pr.Commits <= maxListedCommits) {
		return "", err
	}
	if t.pr.Commits > maxListedCommits {
		return fmt.Sprintf("this pull request has %d commits, and GitHub lists only %d of them, so stagebot cannot tell who made the rest, and no approval counts. Split it into smaller pull requests.", t.pr.Commits, maxListedCommits), nil
	}
	return fmt.Sprintf("the current commit %s reached this pull request without a push GitHub announced to stagebot with its pusher (pushed while the pull request was closed, to a fork before it was opened, by a workflow or App, or the delivery was lost), so stagebot cannot tell who pushed it, and no approval of it counts. Push a new commit and have it reviewed.", comments.ShortSHA(t.pr.HeadSHA)), nil
}

// makers are the lower-cased logins of those who made the PR's change: its
// author, the authors and committers of its commits (as GitHub attributes
// them), and the senders of the pushes GitHub reported. None of them may
// approve it, nor approve what its policies deny.
func (t *turn) makers(ctx context.Context) (map[string]bool, error) {
	out := map[string]bool{strings.ToLower(t.pr.Author): true}
	commits, err := t.client.PullCommits(ctx, t.repo, t.pr.Number)
	if err != nil {
		return nil, err
	}
	shas := make([]string, len(commits))
	for i, c := range commits {
		shas[i] = c.SHA
		for _, login := range []string{c.Author, c.Committer} {
			if login != "" {
				out[strings.ToLower(login)] = true
			}
		}
	}
	byCommit, err := t.w.Store.CommitPushers(ctx, t.repo.FullName(), shas)
	if err != nil {
		return nil, err
	}
	for _, login := range byCommit {
		out[strings.ToLower(login)] = true
	}
	branch := t.pr.HeadRef
	if t.pr.Fork {
		branch = "" // a fork's pushes reach another repository's events
	}
	pushers, err := t.w.Store.Pushers(ctx, t.repo.FullName(), t.pr.Number, branch)
	if err != nil {
		return nil, err
	}
	for _, login := range pushers {
		out[strings.ToLower(login)] = true
	}
	return out, nil
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
func (t *turn) mergeRules(ctx context.Context) (string, string, error) {
	cfg, pr := t.cfg, t.pr
	needApproval := slices.Contains(cfg.Apply.Requirements, config.RequireApproved)
	for _, s := range cfg.Stages {
		needApproval = needApproval || slices.Contains(s.Requirements, config.RequireApproved)
	}
	approvers, why, err := t.approvals(ctx)
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
		ok, _, err := t.w.allowed(ctx, t.client, t.repo, user, need, cfg)
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
