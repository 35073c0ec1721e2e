package workflow

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	tfjson "github.com/hashicorp/terraform-json"
	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/config"
	gh "github.com/stagebot/stagebot/internal/github"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/policy"
	"github.com/stagebot/stagebot/internal/redact"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/store"
)

// StagePolicy is a stage's compiled policies, or why they could not be
// compiled; Owners names who may approve a denied plan.
type StagePolicy struct {
	Files  []string
	Set    *policy.Set
	Err    error
	Owners string
}

// loadPolicies reads the policies of the stages that have any at commit
// base, the base the change was reviewed against (never the change: its
// author must not choose the rules it is held to), and compiles them. A
// broken or missing policy is kept as the stage's error: its plans are
// denied until it is fixed.
func (w *Workflow) loadPolicies(ctx context.Context, src runner.Source, base string, cfg *config.Repo, names []string) (map[string]*StagePolicy, error) {
	return LoadPolicies(ctx, w.Runner, src, base, cfg, names)
}

// LoadPolicies is loadPolicies for `bot plan`, which holds a local change to
// the policies of a commit as the bot would.
func LoadPolicies(ctx context.Context, r *runner.Runner, src runner.Source, base string, cfg *config.Repo, names []string) (map[string]*StagePolicy, error) {
	out := map[string]*StagePolicy{}
	// Stages that name the same files share one read and one compilation.
	compiled := map[string]StagePolicy{}
	for _, name := range names {
		st := cfg.Stage(name)
		if st == nil || len(st.Policies) == 0 {
			continue
		}
		key := strings.Join(st.Policies, "\n")
		sp, ok := compiled[key]
		if !ok {
			files, err := r.ReadFiles(ctx, src, base, st.Policies)
			if err != nil {
				return nil, err
			}
			var mods []policy.Module
			for _, path := range sortedKeys(files) {
				mods = append(mods, policy.Module{Path: path, Source: files[path]})
				sp.Files = append(sp.Files, path)
			}
			if len(mods) == 0 {
				sp.Err = fmt.Errorf("no file at %s matches %s", shortSHA(base), strings.Join(st.Policies, ", "))
				sp.Files = st.Policies
			} else {
				sp.Set, sp.Err = policy.Compile(ctx, mods)
			}
			compiled[key] = sp
		}
		if who := cfg.PolicyOwners(name); !who.Empty() {
			sp.Owners = comments.Appliers(who.Users, who.Teams)
		}
		out[name] = &sp
	}
	return out, nil
}

// evaluate checks a plan against the stage's policies; messages are
// redacted as the comment is, since they are stored and shown.
func (sp *StagePolicy) evaluate(ctx context.Context, stage string, plan *tfjson.Plan, red *redact.Set) *comments.PolicyView {
	v := &comments.PolicyView{Stage: stage, Files: sp.Files, Owners: sp.Owners}
	if sp.Err != nil {
		v.Error = red.Redact(sp.Err.Error())
		return v
	}
	in, err := policy.NewInput(plan)
	if err == nil {
		var res policy.Result
		if res, err = sp.Set.Eval(ctx, in); err == nil {
			for _, d := range res.Deny {
				v.Deny = append(v.Deny, red.Redact(d))
			}
			for _, m := range res.Warn {
				v.Warn = append(v.Warn, red.Redact(m))
			}
		}
	}
	if err != nil {
		v.Error = red.Redact(err.Error())
	}
	return v
}

// denials are what a policy view records as the reasons for denial.
func denials(v *comments.PolicyView) []string {
	out := slices.Clone(v.Deny)
	if v.Error != "" {
		out = append(out, "the policies could not be evaluated: "+v.Error)
	}
	return out
}

// checkPolicies refuses an apply whose saved plan the stage's policies
// deny and no policy owner approved, or whose policies were never checked
// (the stage gained policies after it was planned).
func (w *Workflow) checkPolicies(ctx context.Context, cfg *config.Repo, run runner.Run, label string) *comments.Refusal {
	if st := cfg.Stage(run.Stage); st == nil || len(st.Policies) == 0 {
		return nil
	}
	replan := "comment `/plan " + run.Stage + "`, then `" + label + "`."
	meta, err := w.Runner.CheckPlan(ctx, run)
	if err != nil {
		return &comments.Refusal{Command: label, Why: err.Error(), Next: replan}
	}
	pc, ok, err := w.Store.PolicyCheckOf(ctx, run.Repo, run.PR, run.Stage, meta.SHA256)
	switch {
	case err != nil:
		return &comments.Refusal{Command: label, Why: "the policy check of the plan could not be read: " + err.Error(), Next: "comment again in a minute."}
	case !ok:
		return &comments.Refusal{Command: label, Why: "the policies of `" + run.Stage + "` were not checked against this plan.", Next: replan}
	case !pc.Allowed():
		owners := ""
		if who := cfg.PolicyOwners(run.Stage); !who.Empty() {
			owners = comments.Appliers(who.Users, who.Teams)
		}
		r := comments.PolicyDenied(label, run.Stage, pc.Deny, owners)
		return &r
	}
	return nil
}

// approvePolicies records a policy owner's approval of the current plans
// of the stages (those named, else every stage whose plan is denied), and
// shows it in each stage's comment and check run.
func (w *Workflow) approvePolicies(ctx context.Context, t *turn, ev webhook.CommentEvent, cmd command.Command) error {
	client, pr, cfg := t.client, t.pr, t.cfg
	if r := t.notIntoDefaultBranch(cmd.String()); r != nil {
		return w.refuse(ctx, client, ev, *r)
	}
	makers, err := t.makers(ctx)
	if err != nil {
		return err
	}
	names := cmd.Stages
	if len(names) == 0 {
		for _, s := range cfg.Stages {
			if len(s.Policies) > 0 {
				names = append(names, s.Name)
			}
		}
	}
	var approved, passed []string
	for _, stage := range names {
		label := "/approve " + stage
		who := cfg.PolicyOwners(stage)
		if who.Empty() {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: "`" + stage + "` has no `policy_owners` in `stagebot.yaml`: nobody may approve what its policies deny.", Next: "change the pull request so that the policies pass."})
		}
		if ok, err := w.named(ctx, client, ev.Author, who); errors.Is(err, gh.ErrNoMembersPermission) {
			return w.refuse(ctx, client, ev, *noMembers(label))
		} else if err != nil {
			return err
		} else if !ok {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: fmt.Sprintf("@%s is not a policy owner of `%s`: `stagebot.yaml` names %s.", ev.Author, stage, comments.Appliers(who.Users, who.Teams)), Next: "ask one of them to review the plan and comment `" + label + "`."})
		}
		if ok, have, err := w.allowed(ctx, client, ev.Repo, ev.Author, "write", cfg); err != nil {
			return err
		} else if !ok {
			return w.refuse(ctx, client, ev, comments.NoPermission(label, ev.Author, have, "write"))
		}
		if why, err := t.unknownPusher(ctx); err != nil {
			return err
		} else if why != "" {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: why, Next: "push a new commit, review its plan, then comment `" + label + "`."})
		}
		if makers[strings.ToLower(ev.Author)] {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: "@" + ev.Author + " opened or pushed to this pull request: nobody approves what the policies deny in their own change.", Next: "ask another policy owner (" + comments.Appliers(who.Users, who.Teams) + ") who did not push to it to comment `" + label + "`."})
		}
		run := runner.Run{Repo: ev.Repo.FullName(), PR: pr.Number, Stage: stage, HeadSHA: pr.HeadSHA, BaseSHA: pr.BaseSHA}
		meta, err := w.Runner.CheckPlan(ctx, run)
		if err != nil {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: err.Error(), Next: "comment `/plan " + stage + "`, review the plan, then `" + label + "`."})
		}
		pc, ok, err := w.Store.PolicyCheckOf(ctx, run.Repo, pr.Number, stage, meta.SHA256)
		if err != nil {
			return err
		}
		if !ok {
			return w.refuse(ctx, client, ev, comments.Refusal{Command: label, Why: "the policies of `" + stage + "` were not checked against its current plan.", Next: "comment `/plan " + stage + "`, then `" + label + "`."})
		}
		if len(pc.Deny) == 0 {
			passed = append(passed, stage)
			continue
		}
		if _, err := w.Store.ApprovePolicy(ctx, run.Repo, pr.Number, stage, meta.SHA256, ev.Author); err != nil {
			return err
		}
		pc, _, err = w.Store.PolicyCheckOf(ctx, run.Repo, pr.Number, stage, meta.SHA256)
		if err != nil {
			return err
		}
		if err := t.showApproval(ctx, stage, pc); err != nil {
			return err
		}
		approved = append(approved, stage)
	}
	return w.reply(ctx, client, ev, comments.PolicyApproved(ev.Author, approved, passed))
}

// showApproval puts an approval in the stage's plan comment and makes its
// check run pass.
func (t *turn) showApproval(ctx context.Context, stage string, pc store.PolicyCheck) error {
	w, client, repo, pr, cfg := t.w, t.client, t.repo, t.pr, t.cfg
	v := comments.PolicyView{Stage: stage, Deny: pc.Deny, ApprovedBy: pc.ApprovedBy, ApprovedAt: pc.ApprovedAt}
	if st := cfg.Stage(stage); st != nil {
		v.Files = st.Policies
	}
	section := comments.PolicySection(v)
	headline := "Plan of `" + stage + "`"
	out := comments.PolicyCheckRun(v, headline)
	if isUnit(stage) {
		if err := w.approveSection(ctx, client, repo, pr.Number, stage, section); err != nil {
			return err
		}
	}
	existing, err := client.Comments(ctx, repo, pr.Number)
	if err != nil {
		return err
	}
	for _, c := range existing {
		if !c.IsBot || !strings.HasPrefix(c.Body, comments.Marker(stage)) {
			continue
		}
		if body, ok := comments.ReplacePolicySection(c.Body, section); ok {
			if err := client.EditComment(ctx, repo, c.ID, body); err != nil {
				return err
			}
		}
	}
	return w.completeUnitCheck(ctx, client, repo, pr.Number, stage, 0, gh.CheckRun{Name: comments.CheckRunName(stage), HeadSHA: pr.HeadSHA, Status: out.Status, Conclusion: out.Conclusion, Title: out.Title, Summary: out.Summary,
		Actions: t.buttons(ctx, stage)}, out.Conclusion)
}
