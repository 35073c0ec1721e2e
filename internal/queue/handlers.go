package queue

import (
	"context"

	"github.com/stagebot/stagebot/internal/jobs"
)

// handlers forwards each job to the Handlers set by Config or Handle: the
// workers are registered when the queue is opened, the handlers may come
// after (they may need the queue's database), before Start.
type handlers struct{ Handlers }

func (h *handlers) pullRequest(ctx context.Context, j jobs.PullRequestJob) error {
	return h.Handlers.PullRequest(ctx, j)
}
func (h *handlers) comment(ctx context.Context, j jobs.CommentJob) error {
	return h.Handlers.Comment(ctx, j)
}
func (h *handlers) push(ctx context.Context, j jobs.PushJob) error { return h.Handlers.Push(ctx, j) }
func (h *handlers) checkRun(ctx context.Context, j jobs.CheckRunJob) error {
	return h.Handlers.CheckRun(ctx, j)
}
func (h *handlers) drift(ctx context.Context, j jobs.DriftJob) error { return h.Handlers.Drift(ctx, j) }
func (h *handlers) driftTick(ctx context.Context, j jobs.DriftTickJob) error {
	return h.Handlers.DriftTick(ctx, j)
}
func (h *handlers) maintenance(ctx context.Context, j jobs.MaintenanceJob) error {
	return h.Handlers.Maintenance(ctx, j)
}
