// Package config holds the bot's server settings and the repository file
// stagebot.yaml.
package config

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/go-version"

	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/sandbox"
)

// EnvPrefix is the prefix of every environment variable the bot reads.
const EnvPrefix = "STAGEBOT_"

// Settings is every server setting of the bot, validated once at start.
type Settings struct {
	Listen               string
	GitHubAppID          int64
	GitHubPrivateKeyFile string
	GitHubPrivateKey     string
	GitHubWebhookSecret  string
	GitHubAPIURL         string
	DataDir              string
	DatabaseURL          string
	PlanKeys             string
	TerraformBin         string
	TofuBin              string
	TerraformVersionsDir string // more Terraform binaries: DIR/VERSION/terraform
	// TerraformInstall are the versions the bot installs into the
	// versions dir at start, from TerraformReleasesURL (empty:
	// HashiCorp's site), checked with the key of TerraformReleasesKeyFile
	// (empty: HashiCorp's).
	TerraformInstall         []*version.Version
	TerraformReleasesURL     string
	TerraformReleasesKeyFile string
	// StateDir keeps the state of local backends (runner.StateDirVar).
	StateDir            string
	Workers             int
	InstanceParallelism int
	// InstanceCheckRuns: a stage whose PR plans fewer instances than this
	// gets a check run per instance; more share the stage's one.
	InstanceCheckRuns int
	// PlanRetries and PlanRetryWait retry plans that failed on a held
	// state lock or a failing state backend.
	PlanRetries   int
	PlanRetryWait time.Duration
	// PublicURL is where users reach the bot: the dashboard, and the
	// links comments make to it. Empty: no dashboard.
	PublicURL string
	// GitHubWebURL is where users log in (derived from the API URL).
	GitHubWebURL string
	// GitHubClientID and GitHubClientSecret are the App's OAuth
	// credentials (bot setup stores them).
	GitHubClientID, GitHubClientSecret string
	// WebSessionKeys seal the dashboard's session cookies (default:
	// derived from the webhook secret).
	WebSessionKeys  string
	JobTimeout      time.Duration
	Takeover        time.Duration
	ShutdownTimeout time.Duration
	LogLevel        string
	// TerraformEnv lists the names of environment variables passed to
	// every Terraform run, plans and applies alike: settings, or
	// credentials both may hold.
	TerraformEnv []string
	// PlanEnv and ApplyEnv are the credentials of plans and of applies:
	// Terraform's variable name to the bot's variable that holds the value.
	PlanEnv, ApplyEnv map[string]string
	// CredentialsDir holds credential files (see Credentials).
	CredentialsDir string
	// Sandbox is auto, uid or none; SandboxUIDs the range of uids it runs
	// Terraform as; SandboxGID the group they share.
	Sandbox     string
	SandboxUIDs string
	// SandboxEgress is the allowlist of hosts every sandboxed run reaches.
	SandboxEgress []string
	SandboxGID    int
	// RepoAllowlist are owner/name globs of the repositories served; empty
	// serves every repository the App is installed on.
	RepoAllowlist []string
	// MaxCheckoutBytes bounds what one checkout extracts.
	MaxCheckoutBytes int64
	// MaxInstances, MaxStages, MaxChangedFiles and MaxTreeFiles bound
	// what one push may have planned; GitHubQuotaShare is the percentage
	// of an installation's remaining GitHub API quota one push may spend.
	MaxInstances, MaxStages, MaxChangedFiles, MaxTreeFiles int
	GitHubQuotaShare                                       int
	// DriftTick is how often due drift checks are looked for.
	DriftTick time.Duration
	// LogRetention and PluginCacheMaxBytes bound the data dir.
	LogRetention        time.Duration
	PluginCacheMaxBytes int64
	// NotificationsFile lists where events go (see LoadNotifications);
	// NotificationsRetryWait is the wait before a failed delivery's first
	// retry.
	NotificationsFile      string
	NotificationsRetryWait time.Duration
}

// setting describes one flag/env pair; the table below is the single place
// where names, defaults and help live, and the README's table mirrors it.
type setting struct {
	name  string // flag name; the env var is STAGEBOT_ + upper(name with - -> _)
	def   string
	usage string
	set   func(s *Settings, v string) error
}

// EnvName returns the environment variable for a flag name.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// DefaultEgress is what every sandboxed run may reach unless the bot is
// told otherwise: the Terraform and OpenTofu registries and where they
// send provider downloads.
const DefaultEgress = "registry.terraform.io,releases.hashicorp.com,registry.opentofu.org,github.com,objects.githubusercontent.com,release-assets.githubusercontent.com"

var settings = []setting{
	{"listen", ":8080", "address the HTTP server listens on", func(s *Settings, v string) error { s.Listen = v; return nil }},
	{"github-app-id", "", "GitHub App id", func(s *Settings, v string) error {
		if v == "" {
			return nil
		}
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return fmt.Errorf("must be a positive integer, got %q", v)
		}
		s.GitHubAppID = id
		return nil
	}},
	{"github-private-key-file", "", "path of the GitHub App private key (PEM)", func(s *Settings, v string) error { s.GitHubPrivateKeyFile = v; return nil }},
	{"github-private-key", "", "the GitHub App private key itself (PEM); prefer the _FILE form", func(s *Settings, v string) error { s.GitHubPrivateKey = v; return nil }},
	{"github-webhook-secret", "", "secret GitHub signs webhook deliveries with (required)", func(s *Settings, v string) error { s.GitHubWebhookSecret = v; return nil }},
	{"github-api-url", "https://api.github.com/", "GitHub REST API base URL; GitHub Enterprise: https://HOST/api/v3/", func(s *Settings, v string) error { s.GitHubAPIURL = v; return nil }},
	{"data-dir", "./data", "directory for the SQLite database, workspaces and plan files", func(s *Settings, v string) error { s.DataDir = v; return nil }},
	{"database-url", "", "postgres://... to share one queue between replicas; default: SQLite in the data dir", func(s *Settings, v string) error { s.DatabaseURL = v; return nil }},
	{"plan-keys", "", "keys sealing saved plans at rest (AES-256-GCM): comma-separated, each 32 bytes in base64 (openssl rand -base64 32); the first seals, every one opens. Required with a database URL, where plans are kept", func(s *Settings, v string) error { s.PlanKeys = v; return nil }},
	{"terraform-bin", "terraform", "Terraform binary (name on PATH or path)", func(s *Settings, v string) error { s.TerraformBin = v; return nil }},
	{"terraform-versions-dir", "", "directory of more Terraform binaries, as DIR/VERSION/terraform (or DIR/terraform_VERSION), each checked at start to say the version its name does: a stage runs with the newest of them and terraform-bin that its terraform_version in stagebot.yaml and its required_version allow (none asked: terraform-bin). The bot downloads only what terraform-install lists; otherwise fill it before start (see the README)", func(s *Settings, v string) error { s.TerraformVersionsDir = v; return nil }},
	{"terraform-install", "", "comma-separated exact Terraform versions (1.11.4,1.13.3) the bot installs at start into terraform-versions-dir (required) as DIR/VERSION/terraform when missing, with hc-install, each checked against the SHA256SUMS its releases site signed; empty: the bot downloads nothing", func(s *Settings, v string) error {
		s.TerraformInstall = nil
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			ver, err := version.NewVersion(e)
			if err != nil || ver.String() != e || ver.Metadata() != "" {
				return fmt.Errorf("%q is not an exact Terraform version such as 1.11.4 (a constraint such as ~> 1.11.0 belongs in terraform_version in stagebot.yaml)", e)
			}
			if !slices.ContainsFunc(s.TerraformInstall, ver.Equal) {
				s.TerraformInstall = append(s.TerraformInstall, ver)
			}
		}
		return nil
	}},
	{"terraform-releases-url", "", "where terraform-install downloads from: a mirror laid out as https://releases.hashicorp.com (terraform/VERSION/index.json, the zip, its SHA256SUMS and their signature); empty: that site", func(s *Settings, v string) error {
		v = strings.TrimSuffix(v, "/")
		u, err := url.Parse(v)
		switch {
		case v == "":
		case err == nil && u.User != nil:
			return errors.New("must not hold credentials: errors and logs name the URL")
		case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "":
			return errors.New("must be an http(s) URL such as https://mirror.example.com/hashicorp")
		}
		s.TerraformReleasesURL = v
		return nil
	}},
	{"terraform-releases-key-file", "", "the armored PGP public key the terraform-releases-url mirror signs its SHA256SUMS with; empty: HashiCorp's, built into the bot", func(s *Settings, v string) error { s.TerraformReleasesKeyFile = v; return nil }},
	{"tofu-bin", "", "OpenTofu binary, for stages with terraform_bin: tofu (empty: tofu on PATH, if any)", func(s *Settings, v string) error { s.TofuBin = v; return nil }},
	{"state-dir", "", "directory of the state of stages with a local backend (${state_dir} in backend_config, var.state_dir in Terraform), each repository's in a directory of its own, as bot demo keeps it: for trying the bot on one machine, unisolated (refused with the uid sandbox); production state belongs in a remote backend", func(s *Settings, v string) error { s.StateDir = v; return nil }},
	{"workers", "4", "jobs run at once (different PRs run in parallel)", intSetter(1, 1000, func(s *Settings) *int { return &s.Workers })},
	{"instance-parallelism", "2", "instances of one stage planned at once within a job, each in its own copy of the checkout (a PR that changes the code of a stage with instances plans them all)", intSetter(1, 64, func(s *Settings) *int { return &s.InstanceParallelism })},
	{"instance-check-runs", "20", "a stage whose push plans fewer instances than this gets a check run per instance (stagebot/<stage>:<instance>); at this many or more they share the stage's one (stagebot/<stage>), whose summary is the instance table and whose Apply button applies them all, so that a push costs the same few GitHub calls whatever its instances (0: always the stage's one)", intSetter(0, 1000, func(s *Settings) *int { return &s.InstanceCheckRuns })},
	{"plan-retries", "3", "how often a plan that failed on a held state lock or a failing state backend (5xx, timeouts) is tried again before the PR is told (0: never)", intSetter(0, 10, func(s *Settings) *int { return &s.PlanRetries })},
	{"plan-retry-wait", "10s", "the wait before a plan's first retry; each next one waits twice as long", durationSetter(func(s *Settings) *time.Duration { return &s.PlanRetryWait })},
	{"public-url", "", "where users reach the bot (https://stagebot.example.com): serves the dashboard behind GitHub login, and comments link to their run's page; empty: no dashboard", func(s *Settings, v string) error {
		v = strings.TrimSuffix(v, "/")
		if u, err := url.Parse(v); v != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "") {
			return fmt.Errorf("must be http(s)://host[:port], got %q", v)
		}
		s.PublicURL = v
		return nil
	}},
	{"github-web-url", "", "where users log in to GitHub (default: https://github.com/, or the Enterprise host of the API URL)", func(s *Settings, v string) error { s.GitHubWebURL = v; return nil }},
	{"github-client-id", "", "the App's OAuth client id, for the dashboard's login (bot setup stores it)", func(s *Settings, v string) error { s.GitHubClientID = v; return nil }},
	{"github-client-secret", "", "the App's OAuth client secret (bot setup stores it)", func(s *Settings, v string) error { s.GitHubClientSecret = v; return nil }},
	{"web-session-keys", "", "keys sealing the dashboard's session cookies, as plan-keys (the first seals, each opens); default: one derived from the webhook secret", func(s *Settings, v string) error { s.WebSessionKeys = v; return nil }},
	{"job-timeout", "2h", "longest a job (all its Terraform runs) may take", durationSetter(func(s *Settings) *time.Duration { return &s.JobTimeout })},
	{"takeover", "2m", "with replicas on PostgreSQL: how long a replica that died (kill -9, a lost node) holds a PR before another takes it over; its running job is run again after job-timeout plus this", durationSetter(func(s *Settings) *time.Duration { return &s.Takeover })},
	{"shutdown-timeout", "5m", "on SIGTERM, how long running jobs may take to finish before they are cancelled", durationSetter(func(s *Settings) *time.Duration { return &s.ShutdownTimeout })},
	{"log-level", "info", "debug, info, warn or error", func(s *Settings, v string) error {
		switch v {
		case "debug", "info", "warn", "error":
			s.LogLevel = v
			return nil
		}
		return fmt.Errorf("must be debug, info, warn or error, got %q", v)
	}},
	{"terraform-env", "", "comma-separated names of env vars passed to Terraform (e.g. IONOS_TOKEN,AWS_ACCESS_KEY_ID)", func(s *Settings, v string) error {
		s.TerraformEnv = nil
		for _, name := range strings.Split(v, ",") {
			if name = strings.TrimSpace(name); name != "" {
				s.TerraformEnv = append(s.TerraformEnv, name)
			}
		}
		return nil
	}},
	{"plan-env", "", "credentials of plans (read-only ones): comma-separated NAME or NAME=SOURCE, Terraform gets NAME with the value of the bot's variable SOURCE; applies never get them", envMapSetter(func(s *Settings) *map[string]string { return &s.PlanEnv })},
	{"apply-env", "", "credentials of applies, as plan-env; plans never get them", envMapSetter(func(s *Settings) *map[string]string { return &s.ApplyEnv })},
	{"credentials-dir", "", "directory of credential files, read once at start: plan/NAME, apply/NAME, and per stage stages/STAGE/plan/NAME, stages/STAGE/apply/NAME", func(s *Settings, v string) error { s.CredentialsDir = v; return nil }},
	{"sandbox", "auto", "how a PR's Terraform is kept from the bot's secrets: uid (a uid of its own per run, in namespaces and a cgroup of its own; the bot runs as root), none (explicitly unisolated), or auto (uid when root, none otherwise; as root it refuses to start rather than fall back)", func(s *Settings, v string) error {
		switch v {
		case "auto", "uid", "none":
			s.Sandbox = v
			return nil
		}
		return fmt.Errorf("must be auto, uid or none, got %q", v)
	}},
	{"sandbox-uids", "40000-40063", "uids (each with a group of the same id) the sandbox runs Terraform as, one per run at a time; no one else may use them", func(s *Settings, v string) error { s.SandboxUIDs = v; return nil }},
	{"sandbox-egress", DefaultEgress, "hosts every sandboxed run may reach, through the bot's egress proxy: comma-separated host, host:port, *.domain or *.domain:port (443 without a port; a loopback host needs one); a stage's egress in stagebot.yaml adds to it", func(s *Settings, v string) error {
		s.SandboxEgress = nil
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				s.SandboxEgress = append(s.SandboxEgress, h)
			}
		}
		_, err := sandbox.ParseEgress(s.SandboxEgress)
		return err
	}},
	{"sandbox-gid", "39999", "group every sandbox uid also has", func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("must be a positive group id, got %q", v)
		}
		s.SandboxGID = n
		return nil
	}},
	{"repo-allowlist", "", "comma-separated owner/name globs (acme/*, acme/platform) of the repositories served; others are ignored; empty: every repository the App is installed on", func(s *Settings, v string) error {
		s.RepoAllowlist = nil
		for _, g := range strings.Split(v, ",") {
			if g = strings.TrimSpace(g); g != "" {
				if _, err := path.Match(g, ""); err != nil || !strings.Contains(g, "/") {
					return fmt.Errorf("%q is not an owner/name glob", g)
				}
				s.RepoAllowlist = append(s.RepoAllowlist, g)
			}
		}
		return nil
	}},
	{"drift-tick", "1m", "how often the bot looks for drift checks that are due (stagebot.yaml drift.schedule)", durationSetter(func(s *Settings) *time.Duration { return &s.DriftTick })},
	{"log-retention", "336h", "how long Terraform logs are kept (the newest 64 of a PR are kept until it closes, whatever their age)", durationSetter(func(s *Settings) *time.Duration { return &s.LogRetention })},
	{"plugin-cache-max-bytes", "2147483648", "largest the provider plugin cache may grow; past it, the providers unused the longest are deleted", func(s *Settings, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("must be a number of bytes, got %q", v)
		}
		s.PluginCacheMaxBytes = n
		return nil
	}},
	{"max-checkout-bytes", "1073741824", "largest tree a checkout extracts, in bytes; a commit past it is refused", func(s *Settings, v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1<<20 {
			return fmt.Errorf("must be a number of bytes, at least 1048576, got %q", v)
		}
		s.MaxCheckoutBytes = n
		return nil
	}},
	{"max-instances", "200", "instances one push may have planned, over all stages; a push past it gets one comment saying so, and nothing of it is planned", intSetter(1, 1000000, func(s *Settings) *int { return &s.MaxInstances })},
	{"max-stages", "50", "stages one push may change (a stage with instances counts once); past it, as max-instances", intSetter(1, 1000000, func(s *Settings) *int { return &s.MaxStages })},
	{"max-changed-files", "3000", "files one push may change (GitHub lists at most 3,000 of a pull request's files: past them stagebot cannot tell what a change affects); past it, as max-instances", intSetter(1, 3000, func(s *Settings) *int { return &s.MaxChangedFiles })},
	{"max-tree-files", "20000", "files a commit's tree may hold, counted before it is checked out; past it, as max-instances", intSetter(1, 100000000, func(s *Settings) *int { return &s.MaxTreeFiles })},
	{"notifications-file", "", "a YAML file of where to send events (applies, drift, policy denials, merges): Slack incoming webhooks and signed webhooks, read once at start; it holds their URLs and secrets, so it is refused when its group or others may read it (see Notifications)", func(s *Settings, v string) error { s.NotificationsFile = v; return nil }},
	{"notifications-retry-wait", "1s", "the wait before a failed notification's first retry; each next one waits twice as long, at most 10 minutes, 24 tries in all", durationSetter(func(s *Settings) *time.Duration { return &s.NotificationsRetryWait })},
	{"github-quota-share", "50", "percentage of an installation's remaining GitHub API quota one push may spend (about 2 calls per check run and per comment); a push that needs more says so on the pull request and waits until GitHub renews the quota (0: never waits)", intSetter(0, 100, func(s *Settings) *int { return &s.GitHubQuotaShare })},
}

// envMapSetter parses NAME or NAME=SOURCE entries.
func envMapSetter(field func(*Settings) *map[string]string) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		m := map[string]string{}
		for _, e := range strings.Split(v, ",") {
			if e = strings.TrimSpace(e); e == "" {
				continue
			}
			name, source, ok := strings.Cut(e, "=")
			if !ok {
				source = name
			}
			name, source = strings.TrimSpace(name), strings.TrimSpace(source)
			if !envName.MatchString(name) || !envName.MatchString(source) {
				return fmt.Errorf("%q is not NAME or NAME=SOURCE", e)
			}
			m[name] = source
		}
		*field(s) = m
		return nil
	}
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// AllowsRepo reports whether the repository (owner/name) is served.
func (s Settings) AllowsRepo(fullName string) bool {
	if len(s.RepoAllowlist) == 0 {
		return true
	}
	for _, g := range s.RepoAllowlist {
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(fullName)); ok {
			return true
		}
	}
	return false
}

func intSetter(lo, hi int, field func(*Settings) *int) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("must be an integer from %d to %d, got %q", lo, hi, v)
		}
		*field(s) = n
		return nil
	}
}

func durationSetter(field func(*Settings) *time.Duration) func(*Settings, string) error {
	return func(s *Settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("must be a positive duration such as 90s or 2h, got %q", v)
		}
		*field(s) = d
		return nil
	}
}

// Load reads settings from flags (args) over env vars (getenv) over defaults.
// It does not validate; call Validate.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string) (Settings, error) {
	var s Settings
	values := make(map[string]*string, len(settings))
	for _, st := range settings {
		def := st.def
		if v := getenv(EnvName(st.name)); v != "" {
			def = v
		}
		// The back-quoted word is what -h shows as the flag's type.
		values[st.name] = fs.String(st.name, def, st.usage+" ["+EnvName(st.name)+"] (`"+argKind(st)+"`)")
	}
	if err := fs.Parse(args); err != nil {
		return s, &FlagError{err}
	}
	if fs.NArg() > 0 {
		return s, &FlagError{fmt.Errorf("unexpected argument %q", fs.Arg(0))}
	}
	for _, st := range settings {
		if err := st.set(&s, *values[st.name]); err != nil {
			return s, fmt.Errorf("setting %s (%s): %w", st.name, EnvName(st.name), err)
		}
	}
	return s, nil
}

// argKind is the kind of value a setting takes, as -h shows it.
func argKind(st setting) string {
	switch {
	case st.name == "github-app-id":
		return "int"
	case strings.HasSuffix(st.name, "-url"):
		return "url"
	case strings.HasSuffix(st.name, "-file"), strings.HasSuffix(st.name, "-dir"), strings.HasSuffix(st.name, "-bin"):
		return "path"
	case st.def == "true" || st.def == "false":
		return "bool"
	case strings.HasSuffix(st.name, "-env"):
		return "list"
	case st.name == "sandbox", st.name == "log-level":
		return "choice"
	case st.name == "sandbox-uids":
		return "range"
	}
	if _, err := strconv.Atoi(st.def); err == nil {
		return "int"
	}
	if _, err := time.ParseDuration(st.def); err == nil {
		return "duration"
	}
	if strings.Contains(st.usage, "comma-separated") {
		return "list"
	}
	return "string"
}

// FlagError is a command line that is not the command's: an unknown flag,
// an argument, or -h (flag.ErrHelp).
type FlagError struct{ Err error }

func (e *FlagError) Error() string { return e.Err.Error() }
func (e *FlagError) Unwrap() error { return e.Err }

// Validate checks the settings `bot serve` needs and names every missing one.
func (s Settings) Validate() error {
	var errs []error
	if s.GitHubAppID == 0 {
		errs = append(errs, missing("github-app-id"))
	}
	if s.GitHubPrivateKeyFile == "" && s.GitHubPrivateKey == "" {
		errs = append(errs, fmt.Errorf("missing setting %s (or %s)", EnvName("github-private-key-file"), EnvName("github-private-key")))
	}
	if s.GitHubWebhookSecret == "" {
		errs = append(errs, missing("github-webhook-secret"))
	}
	if u, err := url.Parse(s.GitHubAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("setting %s: must be an http(s) URL, got %q", EnvName("github-api-url"), s.GitHubAPIURL))
	}
	if s.DatabaseURL != "" && !strings.HasPrefix(s.DatabaseURL, "postgres://") && !strings.HasPrefix(s.DatabaseURL, "postgresql://") {
		// The URL may hold a password: never echo it.
		errs = append(errs, fmt.Errorf("setting %s: must start with postgres:// (leave it empty for SQLite in the data dir)", EnvName("database-url")))
	}
	if s.DatabaseURL != "" && s.PlanKeys == "" {
		errs = append(errs, fmt.Errorf("missing setting %s: with %s saved plans are kept in the database, sealed with it (make a key with: openssl rand -base64 32)", EnvName("plan-keys"), EnvName("database-url")))
	}
	if s.PublicURL != "" && (s.GitHubClientID == "" || s.GitHubClientSecret == "") {
		errs = append(errs, fmt.Errorf("missing settings %s and %s: the dashboard (%s) logs users in with the App's OAuth credentials; bot setup stores them, or copy them from the App's settings page", EnvName("github-client-id"), EnvName("github-client-secret"), EnvName("public-url")))
	}
	if len(s.TerraformInstall) > 0 && s.TerraformVersionsDir == "" {
		errs = append(errs, fmt.Errorf("setting %s needs %s: the directory it installs Terraform into", EnvName("terraform-install"), EnvName("terraform-versions-dir")))
	}
	return errors.Join(errs...)
}

// TerraformReleasesKey reads the key file of terraform-install's mirror
// ("" without one: HashiCorp's key). Its errors never quote the file.
func (s Settings) TerraformReleasesKey() (string, error) {
	if s.TerraformReleasesKeyFile == "" {
		return "", nil
	}
	b, err := os.ReadFile(s.TerraformReleasesKeyFile)
	if err != nil {
		return "", fmt.Errorf("setting %s: %w", EnvName("terraform-releases-key-file"), err)
	}
	return string(b), nil
}

// WebURL is where users log in to GitHub: the github-web-url setting, else
// https://github.com/ for github.com's API and the host of a GitHub
// Enterprise API (https://HOST/api/v3/).
func (s Settings) WebURL() string {
	if s.GitHubWebURL != "" {
		return strings.TrimSuffix(s.GitHubWebURL, "/") + "/"
	}
	if strings.HasPrefix(s.GitHubAPIURL, "https://api.github.com") {
		return "https://github.com/"
	}
	return strings.TrimSuffix(strings.TrimSuffix(s.GitHubAPIURL, "/"), "/api/v3") + "/"
}

func missing(name string) error {
	return fmt.Errorf("missing setting %s (flag -%s)", EnvName(name), name)
}

// PrivateKey reads and parses the App's private key. Errors never contain
// the key's content.
func (s Settings) PrivateKey() (*rsa.PrivateKey, []byte, error) {
	pemBytes := []byte(s.GitHubPrivateKey)
	if !strings.Contains(s.GitHubPrivateKey, "\n") {
		// One line, as an env file holds it: "\n" for each line break.
		pemBytes = []byte(strings.ReplaceAll(s.GitHubPrivateKey, `\n`, "\n"))
	}
	source := EnvName("github-private-key")
	if s.GitHubPrivateKeyFile != "" {
		b, err := os.ReadFile(s.GitHubPrivateKeyFile)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return nil, nil, fmt.Errorf("read GitHub App private key %s: %w", s.GitHubPrivateKeyFile, err)
		}
		pemBytes = b
		source = s.GitHubPrivateKeyFile
	}
	key, err := ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, nil, fmt.Errorf("GitHub App private key from %s: %w", source, err)
	}
	return key, pemBytes, nil
}

// ParsePrivateKey parses an RSA key in PKCS#1 or PKCS#8 PEM, as GitHub issues
// them. Its errors never include the input.
func ParsePrivateKey(pemBytes []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("not a PEM-encoded key (expected -----BEGIN RSA PRIVATE KEY-----)")
	}
	if key, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return key, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("PEM block %q is not an RSA private key", block.Type)
	}
	rsaKey, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("key is not an RSA key; GitHub Apps use RSA")
	}
	return rsaKey, nil
}

// LoadNotifications reads the notifications file, if one is set (nil
// without); lookupEnv gives the values its targets' secret_env name.
// Errors name the file and the target, never a URL or secret.
func (s Settings) LoadNotifications(lookupEnv func(string) (string, bool)) (*notify.Config, error) {
	if s.NotificationsFile == "" {
		return nil, nil
	}
	cfg, err := notify.Load(s.NotificationsFile, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("setting %s: %w", EnvName("notifications-file"), err)
	}
	return cfg, nil
}

// DatabasePath is the SQLite file used when DatabaseURL is empty.
func (s Settings) DatabasePath() string {
	return filepath.Join(s.DataDir, "stagebot.db")
}

// Help returns the settings table (flag, env var, default, meaning) in
// Markdown, the source of the README's table.
func Help() string {
	var b strings.Builder
	b.WriteString("| flag | env | default | meaning |\n|---|---|---|---|\n")
	for _, st := range settings {
		def := st.def
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `-%s` | `%s` | %s | %s |\n", st.name, EnvName(st.name), def, st.usage)
	}
	return b.String()
}

// internalEnv are STAGEBOT_ variables the bot sets for its own processes
// (the sandbox's launcher and init) or its tests read; they are no setting.
var internalEnv = []string{"STAGEBOT_SANDBOX_LAUNCH", "STAGEBOT_SANDBOX_INIT", "STAGEBOT_SANDBOX_KILL", "STAGEBOT_INIT_CHILD"}

// UnknownEnv names the STAGEBOT_ variables of environ that are no setting
// (a misspelt STAGEBOT_WORKRES would be ignored without a word), each with
// the closest setting's name when one is near ("" otherwise). Values are
// never looked at.
func UnknownEnv(environ []string) map[string]string {
	known := map[string]bool{}
	for _, st := range settings {
		known[EnvName(st.name)] = true
	}
	for _, n := range internalEnv {
		known[n] = true
	}
	out := map[string]string{}
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || known[name] || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		best, bestDist := "", 4 // suggest only names within 3 edits
		for k := range known {
			if d := editDistance(name, k); d < bestDist || (d == bestDist && k < best) {
				best, bestDist = k, d
			}
		}
		out[name] = best
	}
	return out
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}
