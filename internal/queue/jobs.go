package queue

import (
	"github.com/riverqueue/river"

	gh "github.com/stagebot/stagebot/internal/github"
)

// Every job carries the X-GitHub-Delivery id it answers. It is the job's
// unique key, so a redelivered webhook never makes a second job, and what the
// job posts to GitHub is marked with it so a re-run finds its earlier effect.

// PullRequestJob acts on a pull_request delivery.
type PullRequestJob struct {
	DeliveryID string              `json:"delivery_id" river:"unique"`
	Event      gh.PullRequestEvent `json:"event"`
}

// Kind is River's job kind.
func (PullRequestJob) Kind() string { return "pull_request" }

// CommentJob acts on a command in a PR comment.
type CommentJob struct {
	DeliveryID string          `json:"delivery_id" river:"unique"`
	Event      gh.CommentEvent `json:"event"`
}

// Kind is River's job kind.
func (CommentJob) Kind() string { return "issue_comment" }

// PushJob acts on a push.
type PushJob struct {
	DeliveryID string       `json:"delivery_id" river:"unique"`
	Event      gh.PushEvent `json:"event"`
}

// Kind is River's job kind.
func (PushJob) Kind() string { return "push" }

// CheckRunJob acts on a re-run request of one of the bot's check runs.
type CheckRunJob struct {
	DeliveryID string           `json:"delivery_id" river:"unique"`
	Event      gh.CheckRunEvent `json:"event"`
}

// Kind is River's job kind.
func (CheckRunJob) Kind() string { return "check_run" }

// Job is any of the job types above.
type Job interface {
	river.JobArgs
	Delivery() string
}

// Delivery returns the GitHub delivery id the job answers.
func (j PullRequestJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j CommentJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j PushJob) Delivery() string { return j.DeliveryID }

// Delivery returns the GitHub delivery id the job answers.
func (j CheckRunJob) Delivery() string { return j.DeliveryID }

func (j PullRequestJob) logAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "pr", j.Event.Number, "sha", j.Event.HeadSHA}
}

func (j CommentJob) logAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "pr", j.Event.Number, "comment", j.Event.CommentID}
}

func (j PushJob) logAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "ref", j.Event.Ref, "sha", j.Event.After}
}

func (j CheckRunJob) logAttrs() []any {
	return []any{"delivery", j.DeliveryID, "repo", j.Event.Repo.FullName(), "prs", j.Event.PullRequests, "sha", j.Event.HeadSHA}
}
