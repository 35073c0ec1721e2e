package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
)

func envLookup(name string) string { return os.Getenv(name) }

// versionCmd is `bot version [-json]`.
func versionCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot version", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	asJSON := fs.Bool("json", false, "print the version, commit, Go and Terraform versions as JSON")
	if err := flagsParsed(fs, fs.Parse(args), stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{"bot version: unexpected argument " + fs.Arg(0)}
	}
	if *asJSON {
		tf, _ := terraformVersion(ctx)
		return json.NewEncoder(stdout).Encode(map[string]string{"version": version, "commit": buildCommit(), "go": runtime.Version(), "terraform": tf})
	}
	return printVersion(ctx, stdout)
}

// buildCommit is the commit the binary was built from: the -ldflags one,
// else Go's VCS stamp, else "unknown".
func buildCommit() string {
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
	return c
}

// terraformVersion is the version of the Terraform the settings name, or
// why it cannot be used.
func terraformVersion(ctx context.Context) (string, error) {
	bin := os.Getenv(config.EnvName("terraform-bin"))
	if bin == "" {
		bin = "terraform"
	}
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found; set STAGEBOT_TERRAFORM_BIN", bin)
	}
	v, err := runner.TerraformVersion(ctx, path)
	if err != nil {
		return "", err
	}
	return v.String() + " (" + bin + ")", nil
}

func printVersion(ctx context.Context, w io.Writer) error {
	fmt.Fprintf(w, "stagebot %s (commit %s)\n", version, buildCommit())
	tf, err := terraformVersion(ctx)
	if err != nil {
		fmt.Fprintf(w, "terraform: not usable (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "terraform %s\n", tf)
	return nil
}
