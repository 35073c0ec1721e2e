package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"sigs.k8s.io/yaml"

	"github.com/stagebot/stagebot/internal/runner"

	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/store"
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

// rememberOutputs adds a stage's sensitive outputs, as JSON and as the
// strings inside it, and returns them.
func (w *Workflow) rememberOutputs(repo, stage string, outputs []runner.Output) []string {
	values := SensitiveOutputs(outputs)
	w.remember(repo, values...)
	return values
}

// SensitiveOutputs are the values of the sensitive outputs in every form
// a comment could show them (see sensitiveLeaves).
func SensitiveOutputs(outputs []runner.Output) []string {
	var values []string
	for _, o := range outputs {
		if o.Sensitive {
			values = append(values, sensitiveLeaves(o.Value)...)
		}
	}
	return values
}

// sensitiveLeaves are an output value's forms in text: its JSON, and each
// string or number inside it; and where a string is itself a YAML or JSON
// document (a kubeconfig), the credentials in it, which a plan could show
// on their own.
func sensitiveLeaves(raw json.RawMessage) []string {
	out := []string{string(raw)}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return out
	}
	leaves(v, func(_ string, leaf any) {
		switch leaf := leaf.(type) {
		case string:
			out = append(out, leaf)
			out = append(out, embeddedCredentials(leaf)...)
		case float64:
			out = append(out, strconv.FormatFloat(leaf, 'f', -1, 64))
		}
	})
	return out
}

// credentialKey names a document's fields that hold a credential.
var credentialKey = regexp.MustCompile(`(?i)token|password|secret|key-data|certificate-data`)

// embeddedCredentials are the values of credential fields (token,
// password, client-key-data, ...) of a string that is a YAML or JSON
// document; nothing for any other string.
func embeddedCredentials(s string) []string {
	if len(s) > 1<<20 || !strings.ContainsAny(s, ":{") {
		return nil
	}
	var doc any
	if yaml.Unmarshal([]byte(s), &doc) != nil {
		return nil
	}
	var out []string
	leaves(doc, func(key string, leaf any) {
		if s, ok := leaf.(string); ok && credentialKey.MatchString(key) {
			out = append(out, s)
		}
	})
	return out
}

// leaves calls fn with every value in v that is no map or list, and the
// key it is under in its map ("" in a list).
func leaves(v any, fn func(key string, leaf any)) {
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				walk(k, c)
			}
		case []any:
			for _, c := range v {
				walk("", c)
			}
		default:
			fn(key, v)
		}
	}
	walk("", v)
}

// redactor is everything to redact in repo's texts: the bot's credentials
// and what the repository's stages hold secret.
func (w *Workflow) redactor(repo string) *redact.Set {
	r := redact.New()
	r.Merge(w.Secrets)
	r.Merge(w.known.of(repo))
	return r
}

// client is an installation's GitHub client whose every comment and check
// run is redacted: whatever a text says (a Terraform error, a chart
// message, a refusal quoting an error), no secret the bot knows of leaves.
func (w *Workflow) client(installation int64) GitHub {
	return redacting{GitHub: w.Installation(installation), w: w, installation: installation}
}

// redacting redacts what it writes to GitHub, and keeps the record of the
// check runs it leaves open (see sweepChecks).
type redacting struct {
	GitHub
	w            *Workflow
	installation int64
}

func (c redacting) UpsertComment(ctx context.Context, repo gh.Repo, number int, marker, body string) (gh.Comment, error) {
	return c.GitHub.UpsertComment(ctx, repo, number, marker, c.w.redactor(repo.FullName()).Redact(body))
}

func (c redacting) UpsertCommentIn(ctx context.Context, repo gh.Repo, number int, comments []gh.Comment, marker, body string) (gh.Comment, error) {
	return c.GitHub.UpsertCommentIn(ctx, repo, number, comments, marker, c.w.redactor(repo.FullName()).Redact(body))
}

func (c redacting) EditComment(ctx context.Context, repo gh.Repo, id int64, body string) error {
	return c.GitHub.EditComment(ctx, repo, id, c.w.redactor(repo.FullName()).Redact(body))
}

func (c redacting) CreateCheckRun(ctx context.Context, repo gh.Repo, cr gh.CheckRun) (int64, error) {
	id, err := c.GitHub.CreateCheckRun(ctx, repo, redactCheck(c.w.redactor(repo.FullName()), cr))
	if err == nil {
		c.track(ctx, repo, id, cr)
	}
	return id, err
}

func (c redacting) UpdateCheckRun(ctx context.Context, repo gh.Repo, id int64, cr gh.CheckRun) error {
	err := c.GitHub.UpdateCheckRun(ctx, repo, id, redactCheck(c.w.redactor(repo.FullName()), cr))
	if err == nil {
		c.track(ctx, repo, id, cr)
	}
	return err
}

// track records a check run a job set in progress, and forgets one
// completed (a conclusion completes it too, as GitHub has it). A queued
// one (a merge waiting for a lock, for as long as the lock is held) is not
// a job's to finish.
func (c redacting) track(ctx context.Context, repo gh.Repo, id int64, cr gh.CheckRun) {
	var err error
	switch {
	case cr.Status == "completed" || cr.Conclusion != "" || cr.Status == "queued":
		err = c.w.Store.CheckCompleted(ctx, repo.FullName(), id)
	default:
		err = c.w.Store.CheckOpened(ctx, store.OpenCheck{Repo: repo.FullName(), ID: id, Installation: c.installation, Name: cr.Name, HeadSHA: cr.HeadSHA})
	}
	if err != nil {
		logging.From(ctx).Warn("could not keep the record of a check run", "check_run", id, "error", err.Error())
	}
}

func (c redacting) CreateIssue(ctx context.Context, repo gh.Repo, is gh.Issue, marker string) (gh.Issue, error) {
	r := c.w.redactor(repo.FullName())
	is.Title, is.Body = r.Redact(is.Title), r.Redact(is.Body)
	return c.GitHub.CreateIssue(ctx, repo, is, marker)
}

func (c redacting) EditIssue(ctx context.Context, repo gh.Repo, is gh.Issue) error {
	r := c.w.redactor(repo.FullName())
	is.Title, is.Body = r.Redact(is.Title), r.Redact(is.Body)
	return c.GitHub.EditIssue(ctx, repo, is)
}

func redactCheck(r *redact.Set, cr gh.CheckRun) gh.CheckRun {
	cr.Title, cr.Summary, cr.Text = r.Redact(cr.Title), r.Redact(cr.Summary), r.Redact(cr.Text)
	return cr
}

// jobResult is what a job on repo returns for err: nil for a repository
// the bot does not serve (the job is done: retrying cannot change that),
// else err with its text redacted, since the queue logs and records it
// (what it wraps stays for errors.Is).
func (w *Workflow) jobResult(repo string, err error) error {
	if err == nil || errors.Is(err, errNotServed) {
		return nil
	}
	if text := w.redactor(repo).Redact(err.Error()); text != err.Error() {
		return scrubbed{text: text, err: err}
	}
	return err
}

type scrubbed struct {
	text string
	err  error
}

func (e scrubbed) Error() string { return e.text }
func (e scrubbed) Unwrap() error { return e.err }
