package workflow

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/store"
)

// An instanced stage has one comment on a PR, made from a section per
// instance kept in the store: what would be an instance's own comment (its
// plan, apply or refusal) becomes its section, and the comment is made
// anew from all of them.

// isUnit reports whether stage names an instance (tenant:acme).
func isUnit(stage string) bool {
	_, instance := config.SplitUnit(stage)
	return instance != ""
}

// saveSection records what an instance shows, redacted; the stage's
// comment shows it once composed.
func (w *Workflow) saveSection(ctx context.Context, repo gh.Repo, pr int, unit string, parts []string) error {
	base, _ := config.SplitUnit(unit)
	body := w.redactor(repo.FullName()).Redact(strings.Join(parts, "\n"))
	return w.Store.SetSection(ctx, repo.FullName(), pr, base, unit, body)
}

// sectionsOf are the sections of stage's instances on PR pr, as the
// comments render them.
func (w *Workflow) sectionsOf(ctx context.Context, repo gh.Repo, pr int, stage string) ([]comments.Section, error) {
	secs, err := w.Store.Sections(ctx, repo.FullName(), pr, stage)
	if err != nil {
		return nil, err
	}
	in := make([]comments.Section, len(secs))
	for i, s := range secs {
		in[i] = comments.Section{Unit: s.Unit, Body: s.Body}
	}
	return in, nil
}

// composeStage writes the comment of an instanced stage from the sections
// of its instances. It returns the instances whose plans did not fit in
// it (see comments.Instances).
func (w *Workflow) composeStage(ctx context.Context, client GitHub, repo gh.Repo, pr int, stage string) ([]string, error) {
	in, err := w.sectionsOf(ctx, repo, pr, stage)
	if err != nil || len(in) == 0 {
		return nil, err
	}
	parts, unshown := comments.Instances(stage, in)
	return unshown, w.writeParts(ctx, client, repo, pr, stage, parts)
}

// unitsInOrder are the units of outcomes in apply order: the stages as
// stagebot.yaml lists them, each instanced stage's instances by name.
func unitsInOrder(cfg *config.Repo, outcomes map[string]store.Outcome) []string {
	var out []string
	for _, s := range cfg.Stages {
		if !s.Instanced() {
			if _, ok := outcomes[s.Name]; ok {
				out = append(out, s.Name)
			}
			continue
		}
		for _, unit := range slices.Sorted(maps.Keys(outcomes)) {
			if base, _ := config.SplitUnit(unit); base == s.Name && unit != s.Name {
				out = append(out, unit)
			}
		}
	}
	return out
}

// retireInstances forgets the sections of instances of stage s this head
// no longer affects. It reports whether any instance is left to show.
func (w *Workflow) retireInstances(ctx context.Context, repo gh.Repo, pr int, s config.Stage, now map[string]bool) (bool, error) {
	secs, err := w.Store.Sections(ctx, repo.FullName(), pr, s.Name)
	if err != nil {
		return false, err
	}
	left := false
	for _, sec := range secs {
		if now[sec.Unit] {
			left = true
			continue
		}
		if err := w.Store.DeleteSection(ctx, repo.FullName(), pr, sec.Unit); err != nil {
			return false, err
		}
		if err := w.Store.DeleteUnitChecks(ctx, repo.FullName(), pr, sec.Unit); err != nil {
			return false, err
		}
		if err := w.Store.DeleteOutcomes(ctx, repo.FullName(), pr, sec.Unit); err != nil {
			return false, err
		}
	}
	for u := range now {
		left = left || strings.HasPrefix(u, s.Name+config.UnitSep)
	}
	return left, nil
}

// approveSection puts a policy approval in an instance's section.
func (w *Workflow) approveSection(ctx context.Context, client GitHub, repo gh.Repo, pr int, unit, policy string) error {
	base, _ := config.SplitUnit(unit)
	secs, err := w.Store.Sections(ctx, repo.FullName(), pr, base)
	if err != nil {
		return err
	}
	for _, sec := range secs {
		if sec.Unit != unit {
			continue
		}
		if body, ok := comments.ReplacePolicySection(sec.Body, policy); ok {
			return w.postParts(ctx, client, repo, pr, unit, []string{body})
		}
	}
	return nil
}
