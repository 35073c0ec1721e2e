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

// VersionError is a stage whose required_version excludes the Terraform the
// bot runs. It says what to change; Terraform's own error would only say
// that the versions differ.
type VersionError struct {
	Stage string
	// Module is the local module that requires it, relative to the stage
	// dir; empty for the stage itself.
	Module   string
	Required string
	Have     string
	Bin      string
	Engine   string // Terraform or OpenTofu
}

func (e *VersionError) Error() string {
	where := "its required_version"
	if e.Module != "" {
		where = "required_version of module " + e.Module
	}
	if e.Engine == "OpenTofu" {
		return fmt.Sprintf("stage %s needs %s (%s), but the bot runs OpenTofu %s (%s): "+
			"point STAGEBOT_TOFU_BIN at an OpenTofu that satisfies it, or change required_version",
			e.Stage, e.Required, where, e.Have, e.Bin)
	}
	return fmt.Sprintf("stage %s needs Terraform %s (%s), but the bot runs Terraform %s (%s): "+
		"point STAGEBOT_TERRAFORM_BIN at a Terraform that satisfies it, or change required_version",
		e.Stage, e.Required, where, e.Have, e.Bin)
}

// checkRequiredVersion compares the required_version of the stage's root
// module and of the local modules it calls with the runner's Terraform. A
// prerelease counts as its release, as Terraform itself does.
func (r *Runner) checkRequiredVersion(run Run) error {
	eng, err := r.engine(run)
	if err != nil {
		return err
	}
	have := eng.version.Core()
	seen := map[string]bool{}
	var check func(dir string) error
	check = func(dir string) error {
		if seen[dir] {
			return nil
		}
		seen[dir] = true
		mod, diags := tfconfig.LoadModule(dir)
		if diags.HasErrors() {
			return nil // Terraform reports what is wrong with the files
		}
		for _, req := range mod.RequiredCore {
			c, err := version.NewConstraint(req)
			if err != nil || c.Check(have) {
				continue // Terraform reports a malformed constraint
			}
			e := &VersionError{Stage: run.Stage, Required: req, Have: eng.version.String(), Bin: eng.bin, Engine: eng.name}
			if rel, err := filepath.Rel(run.Dir, dir); err == nil && rel != "." {
				e.Module = filepath.ToSlash(rel)
			}
			return e
		}
		for _, call := range mod.ModuleCalls {
			if strings.HasPrefix(call.Source, "./") || strings.HasPrefix(call.Source, "../") {
				if err := check(filepath.Join(dir, call.Source)); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return check(run.Dir)
}
