package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bmatcuk/doublestar/v4"

	"github.com/stagebot/stagebot/internal/sandbox"
)

// Appliers are the people who may apply a stage: users, and members of
// teams (org/slug).
type Appliers struct {
	Users []string `yaml:"users"`
	Teams []string `yaml:"teams"`
}

// Empty reports whether it names nobody.
func (a Appliers) Empty() bool { return len(a.Users) == 0 && len(a.Teams) == 0 }

// StageAppliers returns who may apply a stage: its own apply list, else
// apply.users and apply.teams. Empty means the role rule
// (apply.permission) decides.
func (r *Repo) StageAppliers(name string) Appliers {
	if s := r.Stage(name); s != nil && s.Apply != nil && !s.Apply.Empty() {
		return *s.Apply
	}
	return Appliers{Users: r.Apply.Users, Teams: r.Apply.Teams}
}

// PolicyOwners returns who may approve a plan of the stage its policies
// deny (nobody when the stage names none).
func (r *Repo) PolicyOwners(name string) Appliers {
	if s := r.Stage(name); s != nil && s.PolicyOwners != nil {
		return *s.PolicyOwners
	}
	return Appliers{}
}

// Engines are the values of terraform_bin.
var Engines = []string{"terraform", "tofu"}

// Engine is what runs a stage: terraform or tofu.
func (r *Repo) Engine(stage string) string {
	if s := r.Stage(stage); s != nil && s.TerraformBin != "" {
		return s.TerraformBin
	}
	if r.TerraformBin != "" {
		return r.TerraformBin
	}
	return "terraform"
}

func checkEngine(v *validator, e string, path ...any) {
	if e != "" && !slices.Contains(Engines, e) {
		v.fail(fmt.Sprintf("%q is not an engine: write terraform or tofu (the bot's STAGEBOT_TERRAFORM_BIN or STAGEBOT_TOFU_BIN; a path is not accepted)", e), path...)
	}
}

// validateGovernance checks the apply lists, policies and policy owners,
// and the engines.
func (r *Repo) validateGovernance(v *validator) {
	checkEngine(v, r.TerraformBin, "terraform_bin")
	r.Apply.Teams = checkTeams(v, r.Apply.Teams, "apply", "teams")
	for i := range r.Stages {
		s := &r.Stages[i]
		checkEngine(v, s.TerraformBin, "stages", i, "terraform_bin")
		if s.Apply != nil {
			s.Apply.Teams = checkTeams(v, s.Apply.Teams, "stages", i, "apply", "teams")
		}
		if s.PolicyOwners != nil {
			s.PolicyOwners.Teams = checkTeams(v, s.PolicyOwners.Teams, "stages", i, "policy_owners", "teams")
		}
		for j, g := range s.Policies {
			if !doublestar.ValidatePattern(g) || strings.HasPrefix(g, "/") || g == ".." || strings.HasPrefix(g, "../") || !strings.HasSuffix(g, ".rego") {
				v.fail(fmt.Sprintf("%q is not a glob of .rego files relative to the repo root", g), "stages", i, "policies", j)
			}
		}
		if _, err := sandbox.ParseEgress(s.Egress); err != nil {
			v.fail(err.Error(), "stages", i, "egress")
		}
		if s.PolicyOwners != nil && len(s.Policies) == 0 {
			v.fail("policy_owners without policies: add policies, or remove it", "stages", i, "policy_owners")
		}
	}
	// Each stage says its engine from here on.
	for i := range r.Stages {
		r.Stages[i].TerraformBin = r.Engine(r.Stages[i].Name)
	}
}

var teamName = regexp.MustCompile(`^@?([A-Za-z0-9][A-Za-z0-9-]*)/([A-Za-z0-9][A-Za-z0-9_.-]*)$`)

// checkTeams validates teams as org/slug (a leading @ allowed) and returns
// them without the @.
func checkTeams(v *validator, teams []string, path ...any) []string {
	out := make([]string, 0, len(teams))
	for j, t := range teams {
		m := teamName.FindStringSubmatch(t)
		if m == nil {
			v.fail(fmt.Sprintf("%q is not a team: write org/team-slug", t), append(path, j)...)
			continue
		}
		out = append(out, m[1]+"/"+m[2])
	}
	return out
}
