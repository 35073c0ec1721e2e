package github

import "github.com/stagebot/stagebot/internal/github/webhook"

// Repo identifies a repository (owner and name).
type Repo = webhook.Repo
