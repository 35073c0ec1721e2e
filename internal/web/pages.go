package web

import (
	"net/http"
	"strconv"

	"github.com/stagebot/stagebot/internal/store"
)

// repoView is a repository on the overview.
type repoView struct {
	Repo   string
	Branch string
	Stages []store.StageStatus
	Runs   []store.Run
	// StateOps are its latest state operations (/import, /state).
	StateOps []store.StateOp
}

// overview lists the repositories the user can read: their stages' last
// applied commit, drift state and lock, and their latest runs.
func (h *Handler) overview(w http.ResponseWriter, r *http.Request, u *session) {
	repos, err := h.cfg.Store.Repos(r.Context())
	if err != nil {
		h.fail(w, u, err)
		return
	}
	var views []repoView
	for _, info := range repos {
		ok, err := h.canRead(r.Context(), u, info.Repo)
		if err != nil {
			h.fail(w, u, err)
			return
		}
		if !ok {
			continue
		}
		v := repoView{Repo: info.Repo, Branch: info.DefaultBranch}
		if v.Stages, err = h.cfg.Store.Overview(r.Context(), info.Repo); err != nil {
			h.fail(w, u, err)
			return
		}
		if v.Runs, err = h.cfg.Store.Runs(r.Context(), info.Repo, 0, 20); err != nil {
			h.fail(w, u, err)
			return
		}
		if v.StateOps, err = h.cfg.Store.StateOps(r.Context(), info.Repo, 0, 20); err != nil {
			h.fail(w, u, err)
			return
		}
		views = append(views, v)
	}
	h.render(w, http.StatusOK, "overview.html", map[string]any{"User": u, "Repos": views})
}

// maxPullRuns bounds the runs a PR's page lists, newest first.
const maxPullRuns = 1000

// pullView is what a PR's page shows.
type pullView struct {
	Repo, URL string
	PR        int
	Locks     []store.StageStatus
	Plans     []store.PlanView
	// Apply says per stage whether /apply would go ahead now (""), or why
	// not; nil when not known.
	Apply map[string]string
	Runs  []store.Run
	// StateOps are the state operations the PR asked for.
	StateOps []store.StateOp
}

// pull shows a PR: the locks it holds, its saved plans with what the
// policies said, and its runs.
func (h *Handler) pull(w http.ResponseWriter, r *http.Request, u *session) {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	n, err := strconv.Atoi(r.PathValue("number"))
	if !h.mayRead(w, r, u, repo) {
		return
	}
	if err != nil || n < 1 {
		h.notFound(w, u)
		return
	}
	v := pullView{Repo: repo, PR: n, URL: h.pullURL(repo, n)}
	stages, err := h.cfg.Store.Overview(r.Context(), repo)
	if err != nil {
		h.fail(w, u, err)
		return
	}
	for _, s := range stages {
		if s.LockPR == n {
			v.Locks = append(v.Locks, s)
		}
	}
	if v.Plans, err = h.cfg.Store.PlansOf(r.Context(), repo, n); err != nil {
		h.fail(w, u, err)
		return
	}
	if h.cfg.ApplyStatus != nil && len(v.Plans) > 0 {
		planned := make([]string, len(v.Plans))
		for i, p := range v.Plans {
			planned[i] = p.Stage
		}
		status, err := h.cfg.ApplyStatus(r.Context(), repo, n, planned)
		if err != nil {
			h.fail(w, u, err)
			return
		}
		v.Apply = map[string]string{}
		for stage, why := range status {
			v.Apply[stage] = h.cfg.Redact(repo, why)
		}
	}
	if v.Runs, err = h.cfg.Store.Runs(r.Context(), repo, n, maxPullRuns); err != nil {
		h.fail(w, u, err)
		return
	}
	if v.StateOps, err = h.cfg.Store.StateOps(r.Context(), repo, n, maxPullRuns); err != nil {
		h.fail(w, u, err)
		return
	}
	h.render(w, http.StatusOK, "pull.html", map[string]any{"User": u, "Pull": v})
}

// run shows one run: what ran, where, how it ended, and its log, streamed
// while it runs.
func (h *Handler) run(w http.ResponseWriter, r *http.Request, u *session) {
	run, ok := h.readableRun(w, r, u)
	if !ok {
		return
	}
	data := map[string]any{"User": u, "Run": run, "PullURL": h.pullURL(run.Repo, run.PR), "Live": run.Running(),
		"Log": h.cfg.Redact(run.Repo, run.Log), "Elsewhere": run.Running() && run.Replica != h.cfg.Replica}
	h.render(w, http.StatusOK, "run.html", data)
}

// readableRun finds the run of the request's id that the user may read;
// otherwise it answers 404.
func (h *Handler) readableRun(w http.ResponseWriter, r *http.Request, u *session) (store.Run, bool) {
	run, ok, err := h.cfg.Store.RunByID(r.Context(), r.PathValue("id"))
	if err != nil {
		h.fail(w, u, err)
		return run, false
	}
	if !ok {
		h.notFound(w, u)
		return run, false
	}
	return run, h.mayRead(w, r, u, run.Repo)
}

// mayRead answers 404 unless the user can read repo on GitHub.
func (h *Handler) mayRead(w http.ResponseWriter, r *http.Request, u *session, repo string) bool {
	ok, err := h.canRead(r.Context(), u, repo)
	if err != nil {
		h.fail(w, u, err)
		return false
	}
	if !ok {
		h.notFound(w, u)
	}
	return ok
}

// release releases a PR's lock on a stage, with the rights /unlock needs.
func (h *Handler) release(w http.ResponseWriter, r *http.Request, u *session) {
	repo := r.PathValue("owner") + "/" + r.PathValue("repo")
	if !h.mayRead(w, r, u, repo) {
		return
	}
	stage := r.PathValue("stage")
	refusal, err := h.cfg.Release(r.Context(), repo, stage, u.Login)
	if err != nil {
		h.fail(w, u, err)
		return
	}
	if refusal != "" {
		h.render(w, http.StatusForbidden, "message.html", map[string]any{"User": u, "Title": "The lock was not released", "Text": h.cfg.Redact(repo, refusal)})
		return
	}
	http.Redirect(w, r, localPath(r.PostFormValue("back")), http.StatusSeeOther)
}

func (h *Handler) fail(w http.ResponseWriter, u *session, err error) {
	h.cfg.Logger.Error("dashboard", "error", err.Error())
	h.render(w, http.StatusInternalServerError, "message.html", map[string]any{"User": u, "Title": "Something went wrong", "Text": "The page could not be made; the bot's log says why."})
}

// pullURL is the PR on GitHub.
func (h *Handler) pullURL(repo string, n int) string {
	return h.cfg.GitHubWebURL + repo + "/pull/" + strconv.Itoa(n)
}
