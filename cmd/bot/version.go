package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/stagebot/stagebot/internal/config"
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
	tfv, err := terraformVersion(ctx, bin)
	if err != nil {
		fmt.Fprintf(w, "terraform: not usable (%v)\n", err)
		return nil
	}
	fmt.Fprintf(w, "terraform %s (%s)\n", tfv, bin)
	return nil
}
