package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
	"github.com/stagebot/stagebot/internal/workflow"
)

// applyCmd plans and applies a local checkout's stages in order, each
// after the stages it reads outputs from: how a newcomer gets past "Unable
// to find remote state" on the quickstart, or bootstraps the state a PR's
// plan reads. It is for code you trust and state you own: a pull request
// is applied by the bot, after review.
func applyCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bot apply", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	lf, err := addLocalFlags(fs, "git ref to apply; uncommitted changes are not applied")
	if err != nil {
		return err
	}
	autoApprove := fs.Bool("auto-approve", false, "apply each plan without asking (otherwise each stage's plan waits for \"yes\" on stdin)")
	if err := flagsParsed(fs, fs.Parse(args), stdout, stderr); err != nil {
		return err
	}
	l, err := openLocal(ctx, "bot apply", lf)
	if err != nil {
		return err
	}
	cfg, err := l.config(ctx, "bot apply", l.headSHA, *lf.head)
	if err != nil {
		return err
	}
	var all []stages.Change
	for _, s := range cfg.Stages {
		all = append(all, stages.Change{Path: s.Dir + "/"})
	}
	affected, err := stages.Detect(cfg, l.root, all)
	if err != nil {
		return fmt.Errorf("bot apply: %w", err)
	}
	if names := fs.Args(); len(names) > 0 {
		for _, n := range names {
			if cfg.Stage(n) == nil {
				return usageError{fmt.Sprintf("bot apply: no stage %q in %s (stages: %s)", n, config.RepoFile, strings.Join(workflow.StageNames(affected), ", "))}
			}
		}
		affected = slices.DeleteFunc(affected, func(a stages.Affected) bool { return !config.IsStageOrUnitOf(names, a.Stage) })
	}
	policies, err := workflow.LoadPolicies(ctx, l.r, runner.Source{Local: l.top}, l.headSHA, cfg, workflow.StageNames(affected))
	if err != nil {
		return fmt.Errorf("bot apply: policies: %w", err)
	}
	answers := bufio.NewReader(stdin)
	target := workflow.PlanTarget{Repo: l.label, Root: l.root, HeadSHA: l.headSHA, Parallelism: 1, Policies: policies}
	seen := map[string]bool{}
	applied := 0
	for _, a := range affected {
		// Its upstream stages were applied just before it, in this order.
		a.WaitingFor = nil
		name := a.Stage.Name
		l.learnUpstream(ctx, cfg, name, seen)
		fmt.Fprintf(stderr, "bot apply: planning %s at %s\n", name, shortRef(l.headSHA))
		sp := workflow.PlanStages(ctx, l.r, target, []stages.Affected{a}, l.secrets)[0]
		fmt.Fprintln(stdout, strings.Join(sp.Comments, "\n\n---\n\n"))
		fmt.Fprint(stdout, "\n---\n\n")
		switch {
		case sp.Err != nil || sp.Result == nil:
			return fmt.Errorf("bot apply: %s could not be planned; %d stage(s) applied before it", name, applied)
		case sp.Policy != nil && sp.Policy.Denied():
			return fmt.Errorf("bot apply: %s is denied by its policies; %d stage(s) applied before it", name, applied)
		case !sp.Result.HasChanges:
			fmt.Fprintf(stderr, "bot apply: %s: no changes\n", name)
			continue
		}
		// Shown: the plan may be applied now, and only this one.
		if err := l.r.MarkPosted(ctx, sp.Result.Meta); err != nil {
			return fmt.Errorf("bot apply: %w", err)
		}
		if !*autoApprove {
			fmt.Fprintf(stderr, "bot apply: apply this plan of %s? Only \"yes\" applies it: ", name)
			answer, err := answers.ReadString('\n')
			if strings.TrimSpace(answer) != "yes" {
				if errors.Is(err, io.EOF) && answer == "" {
					return fmt.Errorf("bot apply: %s not applied: no answer on stdin (pass -auto-approve to apply without asking)", name)
				}
				return fmt.Errorf("bot apply: %s not applied: cancelled; %d stage(s) applied before it", name, applied)
			}
		}
		run := stages.Run(a.Stage, runner.Run{Repo: l.label, Root: l.root, HeadSHA: l.headSHA, Redact: l.secrets})
		// The plan that is applied: its sensitive values stay out of what
		// is printed, whatever happens.
		view := comments.StageApply{Stage: name, HeadSHA: l.headSHA, Plan: sp.Result.JSON}
		res, err := l.r.Apply(ctx, run)
		if err != nil {
			view.Error, view.Engine = workflow.ErrorText(err), l.r.EngineOf(run)
		} else {
			view.Log, view.Engine = res.Log, res.Engine
			view.Outputs = workflow.OutputViews(res.Outputs)
			l.secrets.Add(workflow.SensitiveOutputs(res.Outputs)...)
		}
		fmt.Fprintln(stdout, strings.Join(comments.Apply(view, l.secrets), "\n\n---\n\n"))
		fmt.Fprint(stdout, "\n---\n\n")
		if err != nil {
			return fmt.Errorf("bot apply: the apply of %s failed; %d stage(s) applied before it", name, applied)
		}
		applied++
		fmt.Fprintf(stderr, "bot apply: %s: applied\n", name)
	}
	fmt.Fprintf(stderr, "bot apply: %d stage(s) applied\n", applied)
	return nil
}
