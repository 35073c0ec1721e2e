package workflow

import (
	"sync"

	"github.com/stagebot/stagebot/internal/redact"
)

// knownSecrets are the sensitive values the bot has seen per repository:
// stage outputs it read and values it wrote into Kubernetes. A value that is
// secret in one stage is redacted in every comment of the repository, such
// as an upstream output a downstream stage reads through
// terraform_remote_state, which its plan JSON does not mark sensitive.
type knownSecrets struct {
	mu    sync.Mutex
	repos map[string]*redact.Set
}

func (k *knownSecrets) of(repo string) *redact.Set {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.repos == nil {
		k.repos = map[string]*redact.Set{}
	}
	if k.repos[repo] == nil {
		k.repos[repo] = redact.New()
	}
	return k.repos[repo]
}

// remember adds sensitive values seen in repo.
func (w *Workflow) remember(repo string, values ...string) {
	w.known.of(repo).Add(values...)
}

// redactor is everything to redact in repo's texts: the bot's credentials
// and what the repository's stages hold secret.
func (w *Workflow) redactor(repo string) *redact.Set {
	r := redact.New()
	r.Merge(w.Secrets)
	r.Merge(w.known.of(repo))
	return r
}
