package stages

import (
	"path/filepath"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
)

// Run is the run of stage (or instance) st in the checkout of base, which
// gives the repository, PR, commits and root.
func Run(st config.Stage, base runner.Run) runner.Run {
	run := base
	run.Stage = st.Name
	run.Dir = filepath.Join(base.Root, filepath.FromSlash(st.Dir))
	run.BackendConfig = st.BackendConfig
	run.Engine = st.TerraformBin
	run.TerraformVersion = st.TerraformVersion
	run.Instance = st.Instance
	run.VarFile = st.VarFile
	run.Egress = st.Egress
	run.Steps = st.Steps
	return run
}
