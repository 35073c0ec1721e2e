// Package jobs defines the jobs the webhook endpoint queues and the workflow
// runs: one per kind of GitHub event, each carrying its delivery id.
package jobs

import (
	"github.com/stagebot/stagebot/internal/github/webhook"
)

// Every job carries the X-GitHub-Delivery id it answers. It is the job's
// unique key, so a redelivered webhook never makes a second job, and what the
// job posts to GitHub is marked with it so a re-run finds its earlier effect.

// PullRequestJob acts on a pull_request delivery.
type PullRequestJob struct {
	DeliveryID string                   `json:"delivery_id" river:"unique"`
	Event      webhook.PullRequestEvent `json:"event"`
}

// Kind is River's job kind.
func (PullRequestJob) Kind() string { return "pull_request" }

// CommentJob acts on a command in a PR comment.
type CommentJob struct {
	DeliveryID string               `json:"delivery_id" river:"unique"`
	Event      webhook.CommentEvent `json:"event"`
}

// Kind is River's job kind.
func (CommentJob) Kind() string { return "issue_comment" }

// PushJob acts on a push.
type PushJob struct {
	DeliveryID string            `json:"delivery_id" river:"unique"`
	Event      webhook.PushEvent `json:"event"`
}

// Kind is River's job kind.
func (PushJob) Kind() string { return "push" }

// CheckRunJob acts on a re-run request of one of the bot's check runs.
type CheckRunJob struct {
	DeliveryID string                `json:"delivery_id" river:"unique"`
	Event      webhook.CheckRunEvent `json:"event"`
}

// Kind is River's job kind.
func (CheckRunJob) Kind() string { return "check_run" }

// Job is any of the job types above.
type Job interface {
	// Kind is the job's kind in the queue.
	Kind() string
	// Delivery is the GitHub delivery id the job answers.
	Delivery() string
	// LogAttrs are the attributes every log line of the job carries.
	LogAttrs() []any
	// RepoName is the repository's owner/name.
	RepoName() string
}

// RepoName is the repository's owner/name.
func (j PullRequestJob) RepoName() string { return j.Event.Repo.FullName() }

// RepoName is the repository's owner/name.
func (j CommentJob) RepoName() string { return j.Event.Repo.FullName() }

// RepoName is the repository's owner/name.
func (j PushJob) RepoName() string { return j.Event.Repo.FullName() }

// RepoName is the repository's owner/name.
func (j CheckRunJob) RepoName() string { return j.Event.Repo.FullName() }

// Delivery returns the GitHub delivery id the job answers.
func (j PullRequestJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j CommentJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j PushJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j CheckRunJob) Delivery() string { return j.DeliveryID }

func (j PullRequestJob) LogAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "pr", j.Event.Number, "sha", j.Event.HeadSHA}
}

func (j CommentJob) LogAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "pr", j.Event.Number, "comment", j.Event.CommentID}
}

func (j PushJob) LogAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "ref", j.Event.Ref, "sha", j.Event.After}
}

func (j CheckRunJob) LogAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "prs", j.Event.PullRequests, "sha", j.Event.HeadSHA}
}
