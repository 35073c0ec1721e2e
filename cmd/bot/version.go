package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
)

func envLookup(name string) string { return os.Getenv(name) }

func printVersion(ctx context.Context, w io.Writer) error {
	c := commit
	if c == "" {
		c = "unknown"
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					c = s.Value
				}
			}
		}
	}
	fmt.Fprintf(w, "stagebot %s (commit %s)\n", version, c)
	bin := os.Getenv(config.EnvName("terraform-bin"))
	if bin == "" {
		bin = "terraform"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		fmt.Fprintf(w, "terraform: not usable (%s not found; set STAGEBOT_TERRAFORM_BIN)\n", bin)
		return nil
	}
	tfv, err := runner.TerraformVersion(ctx, path)
	if err != nil {
		fmt.Fprintf(w, "terraform: not usable (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "terraform %s (%s)\n", tfv, bin)
	return nil
}
