package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"log/slog"
	"net/http"
	"os"

	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/seal"
	"github.com/stagebot/stagebot/internal/store"
	"github.com/stagebot/stagebot/internal/web"
	"github.com/stagebot/stagebot/internal/workflow"
)

// dashboard is the web dashboard at the public URL, with River UI under
// /queue/, guarded by every repository the App is installed on.
func dashboard(ctx context.Context, s config.Settings, app *gh.App, q *queue.Queue, st *store.Store, wf *workflow.Workflow, log *slog.Logger) (http.Handler, error) {
	keys, err := seal.Parse(sessionKeys(s))
	if err != nil {
		return nil, err
	}
	ui, err := q.UI(ctx, "/queue", log)
	if err != nil {
		return nil, err
	}
	return web.New(web.Config{
		Store: st, PublicURL: s.PublicURL, GitHubAPIURL: s.GitHubAPIURL, GitHubWebURL: s.WebURL(),
		ClientID: s.GitHubClientID, ClientSecret: s.GitHubClientSecret, SessionKeys: keys,
		Redact: wf.Redact, Release: wf.ReleaseLock, ApplyStatus: wf.ApplyStatus, Queue: ui, QueueRepos: installedRepos(app), Replica: replicaName(), Logger: log,
	})
}

// installedRepos lists, from GitHub, every repository of every
// installation of the App, by full name.
func installedRepos(app *gh.App) func(context.Context) ([]string, error) {
	return func(ctx context.Context) ([]string, error) {
		repos, err := app.Repositories(ctx)
		if err != nil {
			return nil, err
		}
		names := make([]string, len(repos))
		for i, r := range repos {
			names[i] = r.FullName()
		}
		return names, nil
	}
}

// sessionKeys are the web-session-keys setting, or one key derived from
// the webhook secret: replicas share it, and a new webhook secret ends
// every session.
func sessionKeys(s config.Settings) string {
	if s.WebSessionKeys != "" {
		return s.WebSessionKeys
	}
	mac := hmac.New(sha256.New, []byte(s.GitHubWebhookSecret))
	mac.Write([]byte("stagebot dashboard session key v1"))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// replicaName names this bot on the dashboard: its host (a pod's name).
func replicaName() string {
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "stagebot"
}
