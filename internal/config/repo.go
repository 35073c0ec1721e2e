package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"
	"github.com/hashicorp/go-version"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"
)

// RepoFile is the repository configuration file's name, at the repo root.
const RepoFile = "stagebot.yaml"

// Repo is stagebot.yaml: the stages of a repository and the rules for
// applying them. It is read from the default branch, so a PR cannot change
// what it is allowed to do.
type Repo struct {
	Version  int          `yaml:"version"`
	Stages   []Stage      `yaml:"stages"`
	Apply    ApplyRules   `yaml:"apply"`
	Autoplan Autoplan     `yaml:"autoplan"`
	Secrets  []SecretSync `yaml:"secrets"`
	Drift    *Drift       `yaml:"drift"`
	// TerraformBin is the engine of stages without their own: terraform
	// (default) or tofu (OpenTofu). The binaries are the bot's
	// (STAGEBOT_TERRAFORM_BIN, STAGEBOT_TOFU_BIN): a repository picks one,
	// it cannot name a path.
	TerraformBin string `yaml:"terraform_bin"`
	// TerraformVersion is the terraform_version of Terraform stages
	// without their own.
	TerraformVersion string `yaml:"terraform_version"`
	// Steps are the steps of stages without steps of their own.
	Steps *Steps `yaml:"steps"`
}

// Drift is when the bot looks for changes made outside pull requests.
type Drift struct {
	// Schedule is a cron expression (five fields, or @daily, @every 6h).
	Schedule string `yaml:"schedule"`
	// Stages are the stages checked; empty is every stage.
	Stages []string `yaml:"stages"`
}

// DriftSchedule parses a drift schedule.
func DriftSchedule(expr string) (cron.Schedule, error) {
	return cron.ParseStandard(expr)
}

// Stage is one Terraform root module.
type Stage struct {
	Name      string   `yaml:"name"`
	Dir       string   `yaml:"dir"`
	DependsOn []string `yaml:"depends_on"`
	// Watch lists extra doublestar globs (from the repo root) whose changes
	// affect the stage, besides its dir and the local modules it calls.
	Watch []string `yaml:"watch"`
	// Requirements overrides apply.requirements for this stage.
	Requirements []string `yaml:"requirements"`
	// BackendConfig is passed to terraform init as -backend-config=k=v
	// (e.g. the S3 bucket and key of the stage's state).
	BackendConfig map[string]string `yaml:"backend_config"`
	// Apply names who may apply (and unlock) this stage, instead of
	// apply.users and apply.teams.
	Apply *Appliers `yaml:"apply"`
	// Policies are doublestar globs of Rego files (from the repo root,
	// read from the default branch) the stage's plans are checked against.
	Policies []string `yaml:"policies"`
	// PolicyOwners may approve a plan the policies deny.
	PolicyOwners *Appliers `yaml:"policy_owners"`
	// TerraformBin overrides the repository's terraform_bin.
	TerraformBin string `yaml:"terraform_bin"`
	// TerraformVersion is the Terraform the stage runs with: a version
	// (1.11.4) or a constraint (~> 1.11.0), met by the newest of the
	// bot's Terraforms that does (STAGEBOT_TERRAFORM_VERSIONS_DIR).
	// Unset, the required_version of its modules chooses. Not with
	// terraform_bin: tofu.
	TerraformVersion string `yaml:"terraform_version"`
	// Instances, when set, runs the stage once per file (see Unit).
	Instances *Instances `yaml:"instances"`
	// Egress adds hosts (host, host:port, *.domain[:port]) the stage's
	// runs may reach to the bot's own allowlist: its provider APIs, its
	// state backend.
	Egress []string `yaml:"egress"`
	// Steps run around the stage's plan and apply (see Steps); unset,
	// the repository's steps.
	Steps *Steps `yaml:"steps"`

	// Base, Instance and VarFile are set on a unit: instance Instance of
	// stage Base, whose variables are in VarFile (repo-relative).
	Base     string `yaml:"-"`
	Instance string `yaml:"-"`
	VarFile  string `yaml:"-"`
}

// ApplyRules says who may apply and when.
type ApplyRules struct {
	// Requirements checked at /apply: approved, mergeable, fresh.
	Requirements []string `yaml:"requirements"`
	// Permission is the least repository role that may /apply and
	// /unlock: read, triage, write, maintain or admin.
	Permission string `yaml:"permission"`
	// Users and Teams (org/slug), when set, are the only people who may
	// apply and unlock a stage without an apply list of its own: then the
	// role alone is not enough.
	Users []string `yaml:"users"`
	Teams []string `yaml:"teams"`
	// OnMerge applies the merge commit when a PR is merged.
	OnMerge *bool `yaml:"on_merge"`
}

// Autoplan says which PRs are planned without a /plan.
type Autoplan struct {
	Drafts bool `yaml:"drafts"`
	Forks  bool `yaml:"forks"`
	// SkipLabel is the label that keeps a PR from being planned on its
	// own (default stagebot:skip); removing it plans the PR. /plan still
	// plans it.
	SkipLabel string `yaml:"skip_label"`
}

// DefaultSkipLabel is autoplan.skip_label's default.
const DefaultSkipLabel = "stagebot:skip"

// SecretSync is a Kubernetes Secret kept in sync from stage outputs.
type SecretSync struct {
	Name       string            `yaml:"name"`
	Namespace  string            `yaml:"namespace"`
	After      string            `yaml:"after"`
	Kubeconfig string            `yaml:"kubeconfig"`
	Data       map[string]string `yaml:"data"`
	Generate   map[string]string `yaml:"generate"`
	// Copy are keys whose value is another synced Secret's key, named
	// <secret>.<key> of an earlier entry: both Secrets hold the same value
	// (an OAuth client secret the provider and the client read).
	Copy    map[string]string `yaml:"copy"`
	Restart []string          `yaml:"restart"`
}

// Requirement names.
const (
	RequireApproved  = "approved"
	RequireMergeable = "mergeable"
	RequireFresh     = "fresh"
)

// Roles in increasing order of power.
var Roles = []string{"read", "triage", "write", "maintain", "admin"}

// OnMergeEnabled reports whether merged PRs are applied (default true).
func (a ApplyRules) OnMergeEnabled() bool { return a.OnMerge == nil || *a.OnMerge }

// StageRequirements returns the apply requirements of a stage.
func (r *Repo) StageRequirements(name string) []string {
	if s := r.Stage(name); s != nil && s.Requirements != nil {
		return s.Requirements
	}
	return r.Apply.Requirements
}

// Stage returns the stage of that name, or nil. A unit's name
// (tenant:acme) gives that instance of an instanced stage, whether or not
// its file exists.
func (r *Repo) Stage(name string) *Stage {
	base, instance := SplitUnit(name)
	for i := range r.Stages {
		s := &r.Stages[i]
		switch {
		case s.Name == name:
			return s
		case s.Name == base && s.Instanced() && ValidUnitName(name):
			u := s.Unit(instance)
			return &u
		}
	}
	return nil
}

// StageNames returns the stage names in apply order.
func (r *Repo) StageNames() []string {
	names := make([]string, len(r.Stages))
	for i, s := range r.Stages {
		names[i] = s.Name
	}
	return names
}

// ConfigError is a problem in stagebot.yaml, located by line.
type ConfigError struct {
	Line int
	Key  string
	Msg  string
}

func (e *ConfigError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s line %d: %s: %s", RepoFile, e.Line, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", RepoFile, e.Key, e.Msg)
}

var (
	namePattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
	outputRef    = regexp.MustCompile(`^([a-z0-9][a-z0-9_-]*)\.([A-Za-z_][A-Za-z0-9_-]*)$`)
	generateKind = map[string]bool{"hex32": true}
	// restartKind are the workloads a secret's restart may roll.
	restartKind = map[string]bool{"deployment": true, "statefulset": true, "daemonset": true}
)

// ParseRepo parses and validates stagebot.yaml. root, when not empty, is the
// checkout the file belongs to: stage dirs must exist there. Stages come back
// sorted in depends_on order (declaration order among equals).
func ParseRepo(data []byte, root string) (*Repo, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", RepoFile, err)
	}
	var r Repo
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // an unknown key is a typo, not something to ignore
	if err := dec.Decode(&r); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &ConfigError{Key: "stages", Msg: "the file is empty"}
		}
		return nil, fmt.Errorf("%s: %s", RepoFile, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	v := validator{doc: &doc}
	r.validate(&v, root)
	if err := errors.Join(v.errs...); err != nil {
		return nil, err
	}
	r.Stages = sortStages(r.Stages)
	return &r, nil
}

// LoadRepo reads stagebot.yaml from a checkout.
func LoadRepo(root string) (*Repo, error) {
	data, err := os.ReadFile(filepath.Join(root, RepoFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no %s at the repository root: add one listing the stages (see the README)", RepoFile)
		}
		return nil, fmt.Errorf("read %s: %w", RepoFile, err)
	}
	return ParseRepo(data, root)
}

type validator struct {
	doc  *yaml.Node
	errs []error
}

// fail records an error at the node reached by path (keys and indexes).
func (v *validator) fail(msg string, path ...any) {
	key := ""
	for _, p := range path {
		switch p := p.(type) {
		case string:
			if key != "" {
				key += "."
			}
			key += p
		case int:
			key += fmt.Sprintf("[%d]", p)
		}
	}
	v.errs = append(v.errs, &ConfigError{Line: lineOf(v.doc, path...), Key: key, Msg: msg})
}

// lineOf finds the line of the node at path, or of its nearest ancestor.
func lineOf(doc *yaml.Node, path ...any) int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						next = n.Content[i+1]
						line = n.Content[i].Line
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func (r *Repo) validate(v *validator, root string) {
	if r.Version != 1 {
		v.fail(fmt.Sprintf("must be 1, got %d", r.Version), "version")
	}
	if len(r.Stages) == 0 {
		v.fail("at least one stage is required", "stages")
	}
	seen := map[string]int{}
	for i, s := range r.Stages {
		if !namePattern.MatchString(s.Name) {
			v.fail(fmt.Sprintf("%q is not a valid stage name (lower-case letters, digits, - and _)", s.Name), "stages", i, "name")
		} else if j, dup := seen[s.Name]; dup {
			v.fail(fmt.Sprintf("stage %q is defined twice (also stages[%d])", s.Name, j), "stages", i, "name")
		}
		seen[s.Name] = i
		r.validateDir(v, root, i, s.Dir)
		for j, g := range s.Watch {
			if !doublestar.ValidatePattern(g) || strings.HasPrefix(g, "/") {
				v.fail(fmt.Sprintf("%q is not a valid glob relative to the repo root", g), "stages", i, "watch", j)
			}
		}
		checkRequirements(v, s.Requirements, "stages", i, "requirements")
		r.validateInstances(v, i, s)
		validateSteps(v, s.Steps, "stages", i, "steps")
	}
	validateSteps(v, r.Steps, "steps")
	for i := range r.Stages {
		if r.Stages[i].Steps == nil {
			r.Stages[i].Steps = r.Steps
		}
	}
	for i, s := range r.Stages {
		for j, d := range s.DependsOn {
			if _, ok := seen[d]; !ok {
				v.fail(fmt.Sprintf("unknown stage %q (stages are %s)", d, strings.Join(r.StageNames(), ", ")), "stages", i, "depends_on", j)
			} else if d == s.Name {
				v.fail("a stage cannot depend on itself", "stages", i, "depends_on", j)
			}
		}
	}
	if cycle := findCycle(r.Stages); cycle != nil {
		i := seen[cycle[0]]
		v.fail("depends_on makes a cycle: "+strings.Join(cycle, " -> "), "stages", i, "depends_on")
	}
	checkRequirements(v, r.Apply.Requirements, "apply", "requirements")
	r.validateGovernance(v)
	r.validateTerraformVersions(v)
	if r.Autoplan.SkipLabel == "" {
		r.Autoplan.SkipLabel = DefaultSkipLabel
	}
	if r.Apply.Permission == "" {
		r.Apply.Permission = "write"
	} else if !slices.Contains(Roles, r.Apply.Permission) {
		v.fail(fmt.Sprintf("%q is not a role (%s)", r.Apply.Permission, strings.Join(Roles, ", ")), "apply", "permission")
	}
	for i, sec := range r.Secrets {
		r.validateSecret(v, seen, i, sec)
		r.validateCopy(v, i, sec)
	}
	if d := r.Drift; d != nil {
		if _, err := DriftSchedule(d.Schedule); err != nil {
			v.fail(fmt.Sprintf("%q is not a cron schedule (five fields such as \"0 6 * * *\", or @daily, @every 6h): %v", d.Schedule, err), "drift", "schedule")
		}
		for j, st := range d.Stages {
			if _, ok := seen[st]; !ok {
				v.fail(fmt.Sprintf("unknown stage %q", st), "drift", "stages", j)
			}
		}
	}
}

func (r *Repo) validateDir(v *validator, root string, i int, dir string) {
	clean := path.Clean(dir)
	switch {
	case dir == "":
		v.fail("is required", "stages", i, "dir")
		return
	case path.IsAbs(dir) || clean == ".." || strings.HasPrefix(clean, "../"):
		v.fail(fmt.Sprintf("%q must be a directory inside the repository", dir), "stages", i, "dir")
		return
	}
	r.Stages[i].Dir = clean
	if root == "" {
		return
	}
	if st, err := os.Stat(filepath.Join(root, filepath.FromSlash(clean))); err != nil || !st.IsDir() {
		v.fail(fmt.Sprintf("directory %q does not exist in the repository", dir), "stages", i, "dir")
	}
}

func checkRequirements(v *validator, reqs []string, path ...any) {
	for j, req := range reqs {
		switch req {
		case RequireApproved, RequireMergeable, RequireFresh:
		default:
			v.fail(fmt.Sprintf("unknown requirement %q (approved, mergeable, fresh)", req), append(path, j)...)
		}
	}
}

func (r *Repo) validateSecret(v *validator, stages map[string]int, i int, s SecretSync) {
	if !namePattern.MatchString(s.Name) {
		v.fail(fmt.Sprintf("%q is not a valid Kubernetes secret name", s.Name), "secrets", i, "name")
	}
	switch {
	case !namePattern.MatchString(s.Namespace):
		v.fail(fmt.Sprintf("%q is not a valid namespace", s.Namespace), "secrets", i, "namespace")
	case strings.HasPrefix(s.Namespace, "kube-"):
		v.fail(fmt.Sprintf("%q is one of Kubernetes' own namespaces: the bot writes no Secret there", s.Namespace), "secrets", i, "namespace")
	}
	if _, ok := stages[s.After]; !ok {
		v.fail(fmt.Sprintf("unknown stage %q", s.After), "secrets", i, "after")
	}
	ref := func(val string, path ...any) {
		m := outputRef.FindStringSubmatch(val)
		if m == nil {
			v.fail(fmt.Sprintf("%q must be <stage>.<output>", val), path...)
			return
		}
		if _, ok := stages[m[1]]; !ok {
			v.fail(fmt.Sprintf("unknown stage %q", m[1]), path...)
		}
	}
	ref(s.Kubeconfig, "secrets", i, "kubeconfig")
	for _, k := range slices.Sorted(maps.Keys(s.Data)) {
		ref(s.Data[k], "secrets", i, "data", k)
	}
	for j, target := range s.Restart {
		kind, name, _ := strings.Cut(target, "/")
		if !restartKind[kind] || !namePattern.MatchString(name) {
			v.fail(fmt.Sprintf("%q must be deployment/<name>, statefulset/<name> or daemonset/<name>", target), "secrets", i, "restart", j)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.Generate)) {
		if !generateKind[s.Generate[k]] {
			v.fail(fmt.Sprintf("unknown generator %q (hex32)", s.Generate[k]), "secrets", i, "generate", k)
		}
	}
}

// validateCopy checks that each copied key names a key of an earlier
// secret synced after the same stage, so it exists when this one is written.
func (r *Repo) validateCopy(v *validator, i int, s SecretSync) {
	for _, k := range slices.Sorted(maps.Keys(s.Copy)) {
		name, key, ok := strings.Cut(s.Copy[k], ".")
		j := slices.IndexFunc(r.Secrets[:i], func(o SecretSync) bool { return o.Name == name })
		switch {
		case !ok || key == "":
			v.fail(fmt.Sprintf("%q must be <secret>.<key>", s.Copy[k]), "secrets", i, "copy", k)
		case j < 0:
			v.fail(fmt.Sprintf("no secret %q is listed before this one", name), "secrets", i, "copy", k)
		case r.Secrets[j].After != s.After:
			v.fail(fmt.Sprintf("secret %q is written after %s, this one after %s: copy needs the same after", name, r.Secrets[j].After, s.After), "secrets", i, "copy", k)
		case r.Secrets[j].Data[key] == "" && r.Secrets[j].Generate[key] == "":
			v.fail(fmt.Sprintf("secret %q has no key %q in data or generate", name, key), "secrets", i, "copy", k)
		}
		if _, dup := s.Data[k]; dup {
			v.fail(fmt.Sprintf("key %q is also in data", k), "secrets", i, "copy", k)
		}
	}
}

// findCycle returns the stage names of a depends_on cycle, or nil.
func findCycle(stages []Stage) []string {
	deps := map[string][]string{}
	for _, s := range stages {
		deps[s.Name] = s.DependsOn
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var stack []string
	var cycle []string
	var visit func(string) bool
	visit = func(n string) bool {
		state[n] = visiting
		stack = append(stack, n)
		for _, d := range deps[n] {
			if _, known := deps[d]; !known || d == n {
				continue
			}
			if state[d] == visiting {
				i := slices.Index(stack, d)
				cycle = append(append([]string{}, stack[i:]...), d)
				return true
			}
			if state[d] == unvisited && visit(d) {
				return true
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
		return false
	}
	for _, s := range stages {
		if state[s.Name] == unvisited && visit(s.Name) {
			return cycle
		}
	}
	return nil
}

// sortStages orders stages so each comes after what it depends on, keeping
// declaration order where depends_on does not decide.
func sortStages(stages []Stage) []Stage {
	var out []Stage
	placed := map[string]bool{}
	for len(out) < len(stages) {
		for _, s := range stages {
			if placed[s.Name] {
				continue
			}
			ready := true
			for _, d := range s.DependsOn {
				if !placed[d] {
					ready = false
				}
			}
			if ready {
				out = append(out, s)
				placed[s.Name] = true
				break
			}
		}
	}
	return out
}

// Upstream returns every stage that name depends on, directly or not.
func (r *Repo) Upstream(name string) map[string]bool {
	up := map[string]bool{}
	var walk func(string)
	walk = func(n string) {
		s := r.Stage(n)
		if s == nil {
			return
		}
		for _, d := range s.DependsOn {
			if !up[d] {
				up[d] = true
				walk(d)
			}
		}
	}
	walk(name)
	return up
}

// validateTerraformVersions checks each terraform_version (a version or a
// constraint, for Terraform only), and gives each Terraform stage without
// its own the repository's. It runs once each stage says its engine.
func (r *Repo) validateTerraformVersions(v *validator) {
	check := func(c string, path ...any) {
		if _, err := version.NewConstraint(c); c != "" && err != nil {
			v.fail(fmt.Sprintf("%q is not a version or a version constraint (1.11.4, ~> 1.11.0, >= 1.10, < 1.14)", c), path...)
		}
	}
	check(r.TerraformVersion, "terraform_version")
	if r.TerraformVersion != "" && r.TerraformBin == "tofu" {
		v.fail("is for Terraform, and terraform_bin: tofu runs every stage with OpenTofu: set terraform_version on the stages that say terraform_bin: terraform", "terraform_version")
	}
	for i := range r.Stages {
		s := &r.Stages[i]
		check(s.TerraformVersion, "stages", i, "terraform_version")
		switch {
		case s.TerraformBin == "tofu" && s.TerraformVersion != "":
			v.fail("is for Terraform, and the stage runs with OpenTofu (terraform_bin: tofu): remove one of them", "stages", i, "terraform_version")
		case s.TerraformBin != "tofu" && s.TerraformVersion == "":
			s.TerraformVersion = r.TerraformVersion
		}
	}
}
