package web

import (
	"context"
	"errors"
	"net/http"
	"time"
)

// queue serves River UI to those who may read every repository of every
// installation of the App, as GitHub lists them: the queue holds the jobs
// of any of them, including ones the bot has not recorded yet. Changing the
// queue (cancel, retry, delete a job, pause a queue) takes the maintain
// role in every one. Without the list (GitHub failed, or lists none),
// nobody is shown the queue.
func (h *Handler) queue(w http.ResponseWriter, r *http.Request, u *session) {
	repos, err := h.queued.get(r.Context())
	if err != nil {
		h.cfg.Logger.Warn("river ui refused: the repositories stagebot is installed on are not known", "user", u.Login, "error", err.Error())
		h.render(w, http.StatusForbidden, "message.html", map[string]any{"User": u, "Title": "The queue is not shown",
			"Text": "The queue holds the jobs of every repository stagebot is installed on, so it is shown only to those who may read all of them, and GitHub's list of those repositories could not be had. Try again in a minute; the bot's log says why."})
		return
	}
	changes := r.Method != http.MethodGet && r.Method != http.MethodHead
	for _, repo := range repos {
		a, err := h.accessTo(r.Context(), u, repo)
		if err != nil {
			h.fail(w, u, err)
			return
		}
		if !a.read {
			h.notFound(w, u)
			return
		}
		if changes && !a.maintain {
			http.Error(w, "changing the queue takes the maintain role in every repository stagebot is installed on", http.StatusForbidden)
			return
		}
	}
	h.cfg.Queue.ServeHTTP(w, r)
}

// errNoRepos is GitHub listing no repository: an App installed nowhere
// serves no queue.
var errNoRepos = errors.New("GitHub lists no repository of any installation of the App")

// repoList is the list of repositories River UI is guarded by, as GitHub
// gave it last. Every asset and API call of River UI is a request, so a
// listing is kept for ttl; a failed or empty one is never kept, and ends
// the one before.
type repoList struct {
	list func(ctx context.Context) ([]string, error)
	ttl  time.Duration
	// turn lets one request list at a time: the others wait for its list
	// rather than ask GitHub again.
	turn  chan struct{}
	repos []string
	exp   time.Time
}

func newRepoList(list func(ctx context.Context) ([]string, error), ttl time.Duration) *repoList {
	return &repoList{list: list, ttl: ttl, turn: make(chan struct{}, 1)}
}

// get returns the list, asking GitHub when the last one has expired.
func (l *repoList) get(ctx context.Context) ([]string, error) {
	select {
	case l.turn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-l.turn }()
	if l.repos != nil && time.Now().Before(l.exp) {
		return l.repos, nil
	}
	l.repos = nil
	repos, err := l.list(ctx)
	if err != nil {
		return nil, err
	}
	if len(repos) == 0 {
		return nil, errNoRepos
	}
	l.repos, l.exp = repos, time.Now().Add(l.ttl)
	return repos, nil
}
