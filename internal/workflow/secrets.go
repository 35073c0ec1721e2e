package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/config"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/runner"
	"github.com/stagebot/stagebot/internal/stages"
)

// syncSecrets writes the Kubernetes secrets that must exist before stage is
// applied: those made after a stage it depends on. It returns a line per
// secret for the stage's comment, naming keys, never values.
func (w *Workflow) syncSecrets(ctx context.Context, cfg *config.Repo, base runner.Run, root, stage string) ([]string, error) {
	upstream := cfg.Upstream(stage)
	var notes []string
	synced := map[string]kube.SyncResult{}
	for _, sec := range cfg.Secrets {
		if !upstream[sec.After] {
			continue
		}
		outputs := map[string]map[string]runner.Output{}
		value := func(ref string) (string, error) {
			st, name, _ := strings.Cut(ref, ".")
			if outputs[st] == nil {
				s := cfg.Stage(st)
				at := base
				at.Root = root
				run := stages.Run(*s, at)
				outs, err := w.Runner.StageOutputs(ctx, run)
				if err != nil {
					return "", fmt.Errorf("read outputs of stage %s: %w", st, err)
				}
				w.rememberOutputs(base.Repo, st, outs)
				outputs[st] = map[string]runner.Output{}
				for _, o := range outs {
					outputs[st][o.Name] = o
				}
			}
			o, ok := outputs[st][name]
			if !ok {
				return "", fmt.Errorf("stage %s has no output %q (stagebot.yaml secrets %s)", st, name, sec.Name)
			}
			return outputString(o.Value), nil
		}
		kubeconfig, err := value(sec.Kubeconfig)
		if err != nil {
			return nil, err
		}
		spec := kube.SecretSpec{Name: sec.Name, Namespace: sec.Namespace, Data: map[string]string{}, Generate: sec.Generate, Restart: sec.Restart}
		for k, ref := range sec.Data {
			if spec.Data[k], err = value(ref); err != nil {
				return nil, err
			}
		}
		for k, ref := range sec.Copy {
			name, key, _ := strings.Cut(ref, ".")
			v, ok := synced[name].Value(key)
			if !ok {
				return nil, fmt.Errorf("secret %s/%s: key %s copies %s, which was not written", sec.Namespace, sec.Name, k, ref)
			}
			spec.Data[k] = v
		}
		kc, err := kube.Client([]byte(kubeconfig), 30*time.Second)
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s: output %s: %w", sec.Namespace, sec.Name, sec.Kubeconfig, err)
		}
		res, err := kube.Sync(ctx, kc, spec)
		if err != nil {
			return nil, err
		}
		// What the Secret holds is secret wherever it would show.
		for _, k := range slices.Concat(slices.Collect(maps.Keys(spec.Data)), slices.Collect(maps.Keys(spec.Generate))) {
			if v, ok := res.Value(k); ok {
				w.remember(base.Repo, v)
			}
		}
		synced[sec.Name] = res
		notes = append(notes, "🔑 "+res.Summary(spec))
	}
	return notes, nil
}

// outputString is an output's value as a Secret holds it: a string without
// its JSON quotes, anything else as JSON.
func outputString(v json.RawMessage) string {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	return string(v)
}
