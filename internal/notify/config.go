package notify

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"go.yaml.in/yaml/v3"
)

// Target types.
const (
	// Slack is a Slack incoming webhook: {"text": "..."}.
	Slack = "slack"
	// Webhook is a generic webhook: the event's JSON, signed.
	Webhook = "webhook"
)

// Config is the notifications file: where events go.
type Config struct {
	Targets []Target
}

// Target is one place events go. Its URL and secret are secrets (a Slack
// webhook's URL is its credential): no error, log line or text shows them.
type Target struct {
	Name string
	// Type is Slack or Webhook.
	Type string
	URL  string
	// Secret signs a generic webhook's body (X-Stagebot-Signature-256).
	Secret string
	// Events are the kinds sent; empty: every kind.
	Events []Kind
	// Repos are owner/name globs (doublestar, case-insensitive) of the
	// repositories whose events are sent; empty: every repository.
	Repos []string
}

// Wants reports whether the target takes ev (by its kind and repository).
func (t Target) Wants(ev Event) bool {
	if len(t.Events) > 0 && !slices.Contains(t.Events, ev.Kind) {
		return false
	}
	if len(t.Repos) == 0 {
		return true
	}
	for _, g := range t.Repos {
		if ok, _ := doublestar.Match(strings.ToLower(g), strings.ToLower(ev.Repo)); ok {
			return true
		}
	}
	return false
}

// Secrets are the values no text of the bot may show: the targets' URLs
// and secrets (and a Slack URL's path, its credential). A nil Config has
// none.
func (c *Config) Secrets() []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, t := range c.Targets {
		out = append(out, t.URL)
		if t.Secret != "" {
			out = append(out, t.Secret)
		}
		if u, err := url.Parse(t.URL); err == nil && t.Type == Slack && len(u.Path) > 1 {
			out = append(out, u.Path)
		}
	}
	return out
}

// rawTarget is a target as the file writes it.
type rawTarget struct {
	Name      string   `yaml:"name"`
	Type      string   `yaml:"type"`
	URL       string   `yaml:"url"`
	Secret    string   `yaml:"secret"`
	SecretEnv string   `yaml:"secret_env"`
	Events    []string `yaml:"events"`
	Repos     []string `yaml:"repos"`
}

var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Load reads the notifications file at path, once, at start: like every
// file of secrets the bot reads, it is refused when its group or others
// may read it. lookupEnv gives the values secret_env names.
func Load(path string, lookupEnv func(string) (string, bool)) (*Config, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("notifications file: %w", pathless(err))
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("notifications file %s holds webhook URLs and secrets and is readable by others (mode %04o): chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("notifications file %s: %w", path, pathless(err))
	}
	cfg, err := Parse(b, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("notifications file %s: %w", path, err)
	}
	return cfg, nil
}

func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}

// Parse reads a notifications file's content strictly: an unknown key, a
// bad type, URL, event or glob, a webhook without a secret is an error
// naming the target, never quoting its URL or secret.
func Parse(b []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	var raw struct {
		Targets []rawTarget `yaml:"targets"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlError(err)
	}
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	if len(raw.Targets) == 0 {
		return nil, errors.New("lists no targets (targets: [...])")
	}
	cfg := &Config{}
	var errs []error
	seen := map[string]bool{}
	for i, r := range raw.Targets {
		t, terrs := r.target(lookupEnv)
		if len(terrs) > 0 {
			name := fmt.Sprintf("target %d", i+1)
			if r.Name != "" {
				name = fmt.Sprintf("target %q", r.Name)
			}
			for _, err := range terrs {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
			continue
		}
		if seen[t.Name] {
			errs = append(errs, fmt.Errorf("target %q: named twice", t.Name))
			continue
		}
		seen[t.Name] = true
		cfg.Targets = append(cfg.Targets, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cfg, nil
}

// target is the target r describes, or what is wrong with it.
func (r rawTarget) target(lookupEnv func(string) (string, bool)) (Target, []error) {
	t := Target{Name: r.Name, Type: r.Type, URL: r.URL, Secret: r.Secret, Repos: r.Repos}
	var errs []error
	if !targetName.MatchString(r.Name) {
		errs = append(errs, errors.New("name must be letters, digits, '-', '_' or '.' (at most 64)"))
	}
	if r.Type != Slack && r.Type != Webhook {
		errs = append(errs, fmt.Errorf("type must be %s or %s", Slack, Webhook))
	}
	// The URL may be the credential itself: say what is wrong, not what it is.
	if u, err := url.Parse(r.URL); r.URL == "" {
		errs = append(errs, errors.New("url is missing"))
	} else if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		errs = append(errs, errors.New("url must be an http(s)://host/... URL"))
	} else if u.User != nil {
		errs = append(errs, errors.New("url must not hold a user or password"))
	}
	if r.SecretEnv != "" {
		switch v, ok := lookupEnv(r.SecretEnv); {
		case r.Secret != "":
			errs = append(errs, errors.New("secret and secret_env: give one"))
		case !ok || v == "":
			errs = append(errs, fmt.Errorf("secret_env: the variable %s is not set", r.SecretEnv))
		default:
			t.Secret = v
		}
	}
	switch {
	case r.Type == Webhook && t.Secret == "" && r.SecretEnv == "":
		errs = append(errs, errors.New("a webhook needs a secret (secret or secret_env) to sign its deliveries"))
	case r.Type == Slack && (r.Secret != "" || r.SecretEnv != ""):
		errs = append(errs, errors.New("a slack target takes no secret: its URL is its credential"))
	}
	for _, e := range r.Events {
		if k := Kind(e); k.Known() {
			t.Events = append(t.Events, k)
		} else {
			errs = append(errs, fmt.Errorf("unknown event %q (known: %s)", e, kindList()))
		}
	}
	for _, g := range r.Repos {
		if !strings.Contains(g, "/") || !doublestar.ValidatePattern(g) {
			errs = append(errs, fmt.Errorf("repos: %q is not an owner/name glob", g))
		}
	}
	return t, errs
}

func kindList() string {
	s := make([]string, len(Kinds))
	for i, k := range Kinds {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

var (
	// backquoted is what yaml quotes of the input in its errors.
	backquoted = regexp.MustCompile("`.*`")
	unknownKey = regexp.MustCompile(`field (\S+) not found in type .*`)
	wrongKind  = regexp.MustCompile(`cannot unmarshal !!(\w+) a value into (.*)`)
)

// yamlError is a decoding error without the values yaml quotes: a value
// in the wrong place may be a URL or a secret.
func yamlError(err error) error {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return fmt.Errorf("not YAML: %s", backquoted.ReplaceAllString(strings.TrimPrefix(err.Error(), "yaml: "), "a value"))
	}
	msgs := make([]string, len(te.Errors))
	for i, m := range te.Errors {
		m = backquoted.ReplaceAllString(m, "a value")
		m = unknownKey.ReplaceAllString(m, "unknown key $1")
		msgs[i] = wrongKind.ReplaceAllString(m, "expected $2, got !!$1")
	}
	return errors.New(strings.Join(msgs, "; "))
}
