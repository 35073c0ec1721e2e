package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/hashicorp/go-version"
	"github.com/hashicorp/terraform-config-inspect/tfconfig"
)

// TerraformVersion asks a Terraform binary for its version, with a clean
// environment (no CLI config of the host's).
func TerraformVersion(ctx context.Context, bin string) (*version.Version, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "version", "-json")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1"}
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s version: %w", bin, err)
	}
	var v struct {
		Version string `json:"terraform_version"`
	}
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.Version == "" {
		return nil, fmt.Errorf("%s version: unexpected output", bin)
	}
	return version.NewVersion(v.Version)
}

// Where a stage's requirement of a version comes from.
const (
	FromRequiredVersion  = "required_version"
	FromTerraformVersion = "terraform_version"
)

// VersionError is a stage whose required_version (or terraform_version)
// excludes the Terraform the bot runs, or every Terraform it has. It says
// what to change; Terraform's own error would only say that the versions
// differ.
type VersionError struct {
	Stage string
	// Module is the local module that requires it, relative to the stage
	// dir; empty for the stage itself.
	Module   string
	Required string
	// Source is where Required is written: FromRequiredVersion (empty
	// too) or FromTerraformVersion (stagebot.yaml).
	Source string
	Have   string
	Bin    string
	Engine string // Terraform or OpenTofu
	// Installed are the Terraform versions the bot has, oldest first,
	// when it has a versions dir (STAGEBOT_TERRAFORM_VERSIONS_DIR).
	Installed []string
	// Conflict, when set, lists requirements each of which some installed
	// version meets, and none all at once ("~> 1.11.0 (its
	// required_version)"); Required is then the first of them.
	Conflict []string
}

func (e *VersionError) Error() string {
	where, change := writtenIn(e.Source, e.Module), "change required_version"
	if e.Source == FromTerraformVersion {
		change = "change terraform_version"
	}
	if e.Engine == "OpenTofu" {
		return fmt.Sprintf("stage %s needs %s (%s), but the bot runs OpenTofu %s (%s): "+
			"point STAGEBOT_TOFU_BIN at an OpenTofu that satisfies it, or change required_version",
			e.Stage, e.Required, where, e.Have, e.Bin)
	}
	if len(e.Conflict) > 0 {
		return fmt.Sprintf("stage %s needs Terraform %s, and no Terraform the bot has (%s) satisfies all of them: change one",
			e.Stage, strings.Join(e.Conflict, " and "), strings.Join(e.installed(), ", "))
	}
	if len(e.Installed) > 0 {
		return fmt.Sprintf("stage %s needs Terraform %s (%s), and the bot has Terraform %s (STAGEBOT_TERRAFORM_BIN and STAGEBOT_TERRAFORM_VERSIONS_DIR): "+
			"add one that satisfies it to STAGEBOT_TERRAFORM_VERSIONS_DIR, or %s",
			e.Stage, e.Required, where, strings.Join(e.Installed, ", "), change)
	}
	return fmt.Sprintf("stage %s needs Terraform %s (%s), but the bot runs Terraform %s (%s): "+
		"point STAGEBOT_TERRAFORM_BIN at a Terraform that satisfies it, or %s",
		e.Stage, e.Required, where, e.Have, e.Bin, change)
}

func (e *VersionError) installed() []string {
	if len(e.Installed) > 0 {
		return e.Installed
	}
	return []string{e.Have}
}

// requirement is one version constraint a stage's engine must meet.
type requirement struct {
	constraint version.Constraints
	text       string // as written
	source     string // FromRequiredVersion or FromTerraformVersion
	module     string // the local module that requires it, relative to the stage dir
}

// where says where a requirement is written, for people.
func (q requirement) where() string { return writtenIn(q.source, q.module) }

// writtenIn says where a version requirement of source (and module, for
// a required_version) is written, for people.
func writtenIn(source, module string) string {
	switch {
	case source == FromTerraformVersion:
		return "its terraform_version in stagebot.yaml"
	case module != "":
		return "required_version of module " + module
	}
	return "its required_version"
}

// meets reports whether e meets q. A prerelease counts as its release, as
// Terraform itself does.
func (e *engine) meets(q requirement) bool { return q.constraint.Check(e.version.Core()) }

// requiredVersions are the required_version constraints of the stage's
// root module and of the local modules it calls, in that order. A
// malformed one is left out: Terraform reports it.
func requiredVersions(run Run) []requirement {
	var out []requirement
	seen := map[string]bool{}
	var walk func(dir string)
	walk = func(dir string) {
		if seen[dir] {
			return
		}
		seen[dir] = true
		mod, diags := tfconfig.LoadModule(dir)
		if diags.HasErrors() {
			return // Terraform reports what is wrong with the files
		}
		for _, req := range mod.RequiredCore {
			c, err := version.NewConstraint(req)
			if err != nil {
				continue
			}
			q := requirement{constraint: c, text: req, source: FromRequiredVersion}
			if rel, err := filepath.Rel(run.Dir, dir); err == nil && rel != "." {
				q.module = filepath.ToSlash(rel)
			}
			out = append(out, q)
		}
		for _, call := range mod.ModuleCalls {
			if strings.HasPrefix(call.Source, "./") || strings.HasPrefix(call.Source, "../") {
				walk(filepath.Join(dir, call.Source))
			}
		}
	}
	walk(run.Dir)
	return out
}

// checkRequiredVersion compares the required_version of the stage's root
// module and of the local modules it calls with e (OpenTofu's: the
// Terraform a run gets is chosen to meet them, see terraformFor).
func (r *Runner) checkRequiredVersion(run Run, e *engine) error {
	for _, q := range requiredVersions(run) {
		if !e.meets(q) {
			return &VersionError{Stage: run.Stage, Module: q.module, Required: q.text, Source: q.source, Have: e.version.String(), Bin: e.bin, Engine: e.name()}
		}
	}
	return nil
}
