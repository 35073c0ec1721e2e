// Command bot is stagebot: a GitHub App that plans and applies Terraform
// stages through pull requests.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/stagebot/stagebot/internal/sandbox"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = ""
)

const usage = `stagebot plans and applies Terraform stages through pull requests.

Usage:
  bot serve [flags]     run the GitHub App server (bot serve -h lists settings)
  bot plan [flags]      plan a local checkout's stages and print the comments the bot would post
  bot apply [flags] [stage...]
                        plan and apply a local checkout's stages in order (your own code and state)
  bot demo [flags]      the whole product on this machine, with no GitHub App: a pull request, its plans, /apply, the dashboard
  bot setup [flags]     register the GitHub App with GitHub's manifest flow
  bot version           print the version and the Terraform it finds
`

func main() {
	// Started as the sandbox's launcher, this process starts a run; it
	// never gets further.
	sandbox.MaybeLaunch()
	// As PID 1 (the image's entrypoint), it becomes the container's init,
	// which reaps, and starts the bot as its child.
	sandbox.MaybeInit()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if errors.Is(err, flag.ErrHelp) {
		return // -h or --help: the usage is printed, as asked
	}
	var code exitCode
	if errors.As(err, &code) {
		os.Exit(int(code)) // a status that is no error (bot plan -detailed-exitcode)
	}
	if err != nil {
		if len(os.Args) > 1 && os.Args[1] == "serve" {
			// Among the JSON logs a collector reads, as well as plainly.
			slog.New(slog.NewJSONHandler(os.Stderr, nil)).Error("stagebot cannot start", "error", err.Error())
		}
		fmt.Fprintln(os.Stderr, "stagebot:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// flagsParsed is what parsing a command's flags came to: -h and --help
// print its usage on stdout and end it well (flag.ErrHelp, exit 0); a
// flag it does not know prints the usage on stderr and is a usage error
// (exit 2).
func flagsParsed(fs *flag.FlagSet, err error, stdout, stderr io.Writer) error {
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.SetOutput(stdout)
		fmt.Fprintf(stdout, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return err
	case err != nil:
		fs.SetOutput(stderr)
		fmt.Fprintf(stderr, "Usage of %s:\n", fs.Name())
		fs.PrintDefaults()
		return usageError{err.Error()}
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "setup":
		return setup(ctx, args[1:], stdout, stderr)
	case "plan":
		return planCmd(ctx, args[1:], stdout, stderr)
	case "apply":
		return applyCmd(ctx, args[1:], os.Stdin, stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "version":
		return versionCmd(ctx, args[1:], stdout, stderr)
	case "--version", "-version":
		return printVersion(ctx, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
