package workflow

import (
	"context"
	"path"
	"slices"
	"strings"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// Provider code a PR brings. Terraform runs provider plugins as the plan's
// own code, so a PR that brings a provider package (in an implied local
// mirror, terraform.d/plugins under the stage's directory, in the
// providers init would reuse, or anywhere as a terraform-provider-* file)
// or changes what the stage's lock file admits ran code nobody but its
// maker has seen. (A .terraformrc in the tree means nothing: the bot runs
// Terraform with its own CLI config; see internal/runner.) Such a plan is
// marked at the top of its comment, its check run stays neutral, and it
// is applied (by /apply, a button or on merge) only once an approval
// counts (turn.approvals), whatever the apply requirements say.

// providerSources are the files of any stage Terraform may take provider
// code from; stageReads picks a stage's.
var providerSources = []string{"**/terraform.d/plugins/**", "**/.terraform/providers/**", "**/terraform-provider-*", "**/" + lockFileName}

// providerMemo is what a turn read of provider code: each commit's
// provider sources (path -> blob), and each stage's findings.
type providerMemo struct {
	listed map[string]map[string]string
	found  map[string]*comments.ProviderCode
}

// stageReads reports whether a plan of the stage in dir may run provider
// code from the file p (its lock file aside): a provider package
// anywhere, a file of a plugin mirror under dir, or of the providers init
// installed in dir.
func stageReads(dir, p string) bool {
	if strings.HasPrefix(path.Base(p), "terraform-provider-") {
		return true
	}
	rest, ok := p, true
	if dir = path.Clean(dir); dir != "." {
		rest, ok = strings.CutPrefix(p, dir+"/")
	}
	return ok && (strings.HasPrefix(rest, "terraform.d/plugins/") || strings.Contains(rest, "/terraform.d/plugins/") || strings.HasPrefix(rest, ".terraform/providers/"))
}

// providerDiff compares the provider sources of the stage in dir between
// the base's files and the head's (path -> blob): the files the head adds
// or changes, and whether its lock file differs (removed included).
func providerDiff(dir string, base, head map[string]string) ([]string, bool) {
	lock := path.Join(dir, lockFileName)
	var files []string
	for p, blob := range head {
		if base[p] == blob || p == lock || !stageReads(dir, p) {
			continue
		}
		files = append(files, p)
	}
	slices.Sort(files)
	return files, head[lock] != base[lock]
}

// providerBlobs lists the provider sources of commit sha, once per turn.
func (t *turn) providerBlobs(ctx context.Context, sha string) (map[string]string, error) {
	if b, ok := t.providers.listed[sha]; ok {
		return b, nil
	}
	b, err := t.w.Runner.Blobs(ctx, t.src, sha, providerSources)
	if err != nil {
		return nil, err
	}
	if t.providers.listed == nil {
		t.providers.listed = map[string]map[string]string{}
	}
	t.providers.listed[sha] = b
	return b, nil
}

// providerCode is the provider code the tree at target brings to stage st,
// compared with the turn's base (never with what the change says it is
// based on); nil when it brings none. Read once per turn.
func (t *turn) providerCode(ctx context.Context, target string, st config.Stage) (*comments.ProviderCode, error) {
	key := target + "\x00" + st.Dir
	if pc, ok := t.providers.found[key]; ok {
		return pc, nil
	}
	head, err := t.providerBlobs(ctx, target)
	if err != nil {
		return nil, err
	}
	base, err := t.providerBlobs(ctx, t.base)
	if err != nil {
		return nil, err
	}
	pc := &comments.ProviderCode{Base: comments.RulesBase{Branch: t.repo.DefaultBranch, SHA: t.base}}
	var lockChanged bool
	pc.Files, lockChanged = providerDiff(st.Dir, base, head)
	if lockChanged {
		pc.LockFile = path.Join(st.Dir, lockFileName)
		if pc.Lock, err = t.lockDiff(ctx, target, pc.LockFile); err != nil {
			pc.LockError = err.Error()
		} else if len(pc.Lock) == 0 {
			pc.LockFile = "" // comments or formatting: Terraform installs the same
		}
	}
	if len(pc.Files) == 0 && pc.LockFile == "" {
		pc = nil
	}
	if t.providers.found == nil {
		t.providers.found = map[string]*comments.ProviderCode{}
	}
	t.providers.found[key] = pc
	return pc, nil
}

// lockDiff compares the lock file at file between the turn's base and
// target.
func (t *turn) lockDiff(ctx context.Context, target, file string) ([]comments.LockChange, error) {
	var entries [2]map[string]lockEntry
	for i, sha := range []string{t.base, target} {
		files, err := t.w.Runner.ReadFiles(ctx, t.src, sha, []string{globQuote(file)})
		if err != nil {
			return nil, err
		}
		if entries[i], err = parseLock(file, files[file]); err != nil {
			return nil, err
		}
	}
	return lockChanges(entries[0], entries[1]), nil
}

// providerCodes is the provider code the tree at target brings to each of
// the stages, by stage, with who approved it; the stages whose providers
// are the base's are left out.
func (t *turn) providerCodes(ctx context.Context, target string, affected []stages.Affected) (map[string]*comments.ProviderCode, error) {
	out := map[string]*comments.ProviderCode{}
	for _, a := range affected {
		pc, err := t.providerCode(ctx, target, a.Stage)
		if err != nil {
			return nil, err
		}
		if pc != nil {
			c := *pc
			out[a.Stage.Name] = &c
		}
	}
	if len(out) == 0 {
		return out, nil // the PR's reviews are not asked for
	}
	approvers, why, err := t.approvals(ctx)
	if err != nil {
		return nil, err
	}
	if why == "" {
		for _, pc := range out {
			pc.ApprovedBy = approvers
		}
	}
	return out, nil
}

// unapprovedProviderCode says why stage st may not be applied from the
// tree at target ("" when it may): its provider code comes from the PR and
// no approval counts. It holds whatever the apply requirements are: a
// repository that requires no approval would otherwise run code only its
// maker saw with the apply credentials.
func (t *turn) unapprovedProviderCode(ctx context.Context, target string, st config.Stage) (string, error) {
	pc, err := t.providerCode(ctx, target, st)
	if err != nil || pc == nil {
		return "", err
	}
	_, why, err := t.approvals(ctx)
	if err != nil || why == "" {
		return "", err
	}
	return comments.ProviderCodeUnapproved(st.Name, *pc, why), nil
}

// providerCodeRefusal refuses label, an apply of run's stage at its head,
// while unapprovedProviderCode says so.
func (t *turn) providerCodeRefusal(ctx context.Context, run runner.Run, label string) *comments.Refusal {
	st := t.cfg.Stage(run.Stage)
	if st == nil {
		return nil
	}
	why, err := t.unapprovedProviderCode(ctx, run.HeadSHA, *st)
	switch {
	case err != nil:
		return &comments.Refusal{Command: label, Why: "the provider code of this pull request could not be compared with the default branch: " + err.Error(), Next: "comment again in a minute."}
	case why != "":
		return &comments.Refusal{Command: label, Why: why, Next: "get an approving review of the current commit from someone with write permission who neither opened nor pushed to this pull request, then comment `" + label + "` again."}
	}
	return nil
}

// mergeProviderCode says why a merge commit (sha) may not be applied
// ("" when it may): one of its stages runs provider code the PR brought,
// and the PR's head had no approval that counts.
func (t *turn) mergeProviderCode(ctx context.Context, sha string, affected []stages.Affected) (string, error) {
	for _, a := range affected {
		if a.Problem != "" {
			continue // nothing of it is planned
		}
		if why, err := t.unapprovedProviderCode(ctx, sha, a.Stage); err != nil || why != "" {
			return why, err
		}
	}
	return "", nil
}

// globQuote makes a path a doublestar pattern that matches only itself.
func globQuote(p string) string {
	var b strings.Builder
	for _, r := range p {
		if strings.ContainsRune(`*?[]{}\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
