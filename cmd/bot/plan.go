package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/workflow"
)

// planCmd runs the PR pipeline on a local checkout and prints the comments
// the bot would post: how a user tries stagebot without a GitHub App.
func planCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot plan", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	lf, err := addLocalFlags(fs, "git ref to plan (the PR's head); uncommitted changes are not planned")
	if err != nil {
		return err
	}
	base := fs.String("base", "", "git ref the change is compared with (the PR's base); empty: every stage is affected")
	policiesAt := fs.String("policies-from", "base", "where the stages' policies are read: base (as the bot holds a PR to them; the head when there is no -base) or head (to try a change to the policies themselves)")
	detailed := fs.Bool("detailed-exitcode", false, "exit 0 when nothing would change, 2 when a stage would change, 1 on an error or a policy's denial (as terraform plan -detailed-exitcode)")
	if err := flagsParsed(fs, fs.Parse(args), stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Sprintf("bot plan: unexpected argument %q", fs.Arg(0))}
	}
	if *policiesAt != "base" && *policiesAt != "head" {
		return usageError{fmt.Sprintf("bot plan: -policies-from must be base or head, got %q", *policiesAt)}
	}
	l, err := openLocal(ctx, "bot plan", lf)
	if err != nil {
		return err
	}
	r, top, prefix, root, headSHA := l.r, l.top, l.prefix, l.root, l.headSHA
	baseSHA := ""
	if *base != "" {
		if baseSHA, err = gitOut(ctx, top, "rev-parse", "--verify", *base+"^{commit}"); err != nil {
			return fmt.Errorf("bot plan: base %q: %w", *base, err)
		}
	}
	// Like the bot, read the configuration from the base: a change cannot
	// alter what it is allowed to do.
	cfgSHA, cfgFrom := headSHA, *lf.head
	if baseSHA != "" {
		cfgSHA, cfgFrom = baseSHA, *base
	}
	repoCfg, err := l.config(ctx, "bot plan", cfgSHA, cfgFrom)
	if err != nil {
		return err
	}

	var changes []stages.Change
	if baseSHA == "" {
		for _, s := range repoCfg.Stages {
			changes = append(changes, stages.Change{Path: s.Dir + "/"})
		}
	} else if changes, err = diff(ctx, top, prefix, baseSHA, headSHA); err != nil {
		return err
	}
	affected, err := stages.Detect(repoCfg, root, changes)
	if err != nil {
		return fmt.Errorf("bot plan: %w", err)
	}
	if len(affected) == 0 {
		fmt.Fprintf(stdout, "No stage is affected by the changes from %s to %s.\n", *base, *lf.head)
		return nil
	}
	// The policies, as the bot reads them: from the base, never from the
	// change, unless asked to try the change's own.
	policyAt := baseSHA
	if *policiesAt == "head" || policyAt == "" {
		policyAt = headSHA
	}
	names := workflow.StageNames(affected)
	policies, err := workflow.LoadPolicies(ctx, r, runner.Source{Local: top}, policyAt, repoCfg, names)
	if err != nil {
		return fmt.Errorf("bot plan: policies: %w", err)
	}
	fmt.Fprintf(stderr, "bot plan: planning %d stage(s) at %s: %s\n", len(affected), shortRef(headSHA), strings.Join(names, ", "))
	failed, denied, changed := 0, 0, 0
	var shown [][]string
	sections := map[string][]comments.Section{} // an instanced stage's, shown as its one comment
	seen := map[string]bool{}
	for _, a := range affected {
		l.learnUpstream(ctx, repoCfg, a.Stage.Name, seen)
	}
	for _, sp := range workflow.PlanStages(ctx, r, workflow.PlanTarget{Repo: l.label, Root: root, HeadSHA: headSHA, BaseSHA: baseSHA, Parallelism: *lf.parallelism, Policies: policies}, affected, l.secrets) {
		switch {
		case sp.Err != nil:
			failed++
			fmt.Fprintf(stderr, "bot plan: %s: failed\n", sp.Affected.Stage.Name)
		case sp.Policy != nil && sp.Policy.Denied():
			denied++
			fmt.Fprintf(stderr, "bot plan: %s: denied by policy\n", sp.Affected.Stage.Name)
		case sp.Result != nil && sp.Result.HasChanges:
			changed++
			fmt.Fprintf(stderr, "bot plan: %s: planned, with changes\n", sp.Affected.Stage.Name)
		default:
			fmt.Fprintf(stderr, "bot plan: %s: planned, no changes\n", sp.Affected.Stage.Name)
		}
		if base := sp.Affected.Stage.Base; base != "" {
			if sections[base] == nil {
				shown = append(shown, []string{base})
			}
			sections[base] = append(sections[base], comments.Section{Unit: sp.Affected.Stage.Name, Body: strings.Join(sp.Comments, "\n")})
			continue
		}
		shown = append(shown, sp.Comments)
	}
	for i, parts := range shown {
		if len(parts) == 1 && sections[parts[0]] != nil {
			parts, _ = comments.Instances(parts[0], sections[parts[0]])
		}
		if i > 0 {
			fmt.Fprint(stdout, "\n\n---\n\n")
		}
		fmt.Fprint(stdout, strings.Join(parts, "\n\n---\n\n"))
	}
	fmt.Fprintln(stdout)
	switch {
	case failed > 0:
		return fmt.Errorf("bot plan: %d stage(s) failed to plan", failed)
	case denied > 0:
		return fmt.Errorf("bot plan: %d stage(s) denied by their policies (the bot would refuse to apply them without a policy owner's approval)", denied)
	case changed > 0 && *detailed:
		return exitCode(2)
	}
	return nil
}

// exitCode ends the command with a status that is no error (2: changes
// present, for -detailed-exitcode).
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func shortRef(sha string) string { return sha[:min(len(sha), 12)] }

// diff lists the files changed between base and head under prefix, relative
// to prefix, with the old path of renames.
func diff(ctx context.Context, top, prefix, base, head string) ([]stages.Change, error) {
	out, err := gitOut(ctx, top, "diff", "--name-status", "-M", "-z", "--no-color", base, head, "--", prefix)
	if err != nil {
		return nil, fmt.Errorf("bot plan: git diff: %w", err)
	}
	rel := func(p string) string {
		if prefix == "." {
			return p
		}
		return strings.TrimPrefix(p, filepath.ToSlash(prefix)+"/")
	}
	var changes []stages.Change
	fields := strings.Split(strings.TrimRight(out, "\x00"), "\x00")
	for i := 0; i < len(fields); {
		status := fields[i]
		switch {
		case status == "":
			i++
		case strings.HasPrefix(status, "R") || strings.HasPrefix(status, "C"):
			if i+2 >= len(fields) {
				return changes, nil
			}
			changes = append(changes, stages.Change{PreviousPath: rel(fields[i+1]), Path: rel(fields[i+2])})
			i += 3
		default:
			if i+1 >= len(fields) {
				return changes, nil
			}
			changes = append(changes, stages.Change{Path: rel(fields[i+1])})
			i += 2
		}
	}
	return changes, nil
}

func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", errors.New(msg)
	}
	return strings.TrimSpace(stdout.String()), nil
}

func envOr(flagName, def string) string {
	if v := os.Getenv(config.EnvName(flagName)); v != "" {
		return v
	}
	return def
}
