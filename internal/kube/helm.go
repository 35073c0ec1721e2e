package kube

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"sigs.k8s.io/yaml"
)

// Object names a Kubernetes object the bot manages itself; a chart must not
// render it too.
type Object struct {
	Kind, Namespace, Name string
}

func (o Object) String() string { return o.Kind + " " + o.Namespace + "/" + o.Name }

// ChartReport is the Helm check of one chart: lint findings, and the
// objects it renders that the bot manages itself.
type ChartReport struct {
	Chart string
	// Lint holds lint errors and warnings ("[ERROR] templates/x.yaml: ...",
	// with the line when Helm knows it).
	Lint []string
	// Failed is true when lint found errors or the chart did not render.
	Failed    bool
	Conflicts []string
	// Rendered counts the objects the chart renders.
	Rendered int
}

// OK reports whether the chart may be deployed.
func (r ChartReport) OK() bool { return !r.Failed && len(r.Conflicts) == 0 }

// Summary is the report as Markdown lines for a stage comment.
func (r ChartReport) Summary() string {
	var b strings.Builder
	switch {
	case r.OK():
		fmt.Fprintf(&b, "✅ Helm chart `%s`: lint passed, %d objects rendered.\n", r.Chart, r.Rendered)
	default:
		fmt.Fprintf(&b, "❌ Helm chart `%s` failed its checks:\n", r.Chart)
	}
	for _, c := range r.Conflicts {
		fmt.Fprintf(&b, "- renders %s, which stagebot manages itself: the chart must use the existing secret instead (for Authentik, `authentik.existingSecret.secretName`).\n", c)
	}
	for _, l := range r.Lint {
		fmt.Fprintf(&b, "- `%s`\n", strings.ReplaceAll(l, "`", "'"))
	}
	return b.String()
}

// CheckChart lints a chart directory with the given values files and
// renders it in namespace, in-process with the Helm SDK (no helm CLI).
func CheckChart(dir, namespace string, valuesFiles []string, managed []Object) ChartReport {
	rep := ChartReport{Chart: filepath.Base(dir)}
	values := map[string]any{}
	for _, f := range valuesFiles {
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			rep.Failed = true
			rep.Lint = append(rep.Lint, fmt.Sprintf("[ERROR] %s: %v", filepath.Base(f), err))
			return rep
		}
		values = chartutil.CoalesceTables(v.AsMap(), values)
	}
	linter := lint.All(dir, values, namespace, false)
	for _, m := range linter.Messages {
		if m.Severity < support.WarningSev {
			continue
		}
		if m.Severity >= support.ErrorSev {
			rep.Failed = true
		}
		rep.Lint = append(rep.Lint, m.Error())
	}
	docs, err := render(dir, "", namespace, values)
	if err != nil {
		rep.Failed = true
		rep.Lint = append(rep.Lint, "[ERROR] "+err.Error())
		return rep
	}
	for _, d := range docs {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if yaml.Unmarshal([]byte(d.text), &obj) != nil || obj.Kind == "" {
			continue
		}
		rep.Rendered++
		ns := obj.Metadata.Namespace
		if ns == "" {
			ns = namespace
		}
		o := Object{Kind: obj.Kind, Namespace: ns, Name: obj.Metadata.Name}
		if slices.Contains(managed, o) {
			_, file, _ := strings.Cut(d.file, "/") // without the chart's name
			rep.Conflicts = append(rep.Conflicts, fmt.Sprintf("%s (in %s)", o, file))
		}
	}
	return rep
}

// RenderChart renders a chart as release in namespace with values, and
// returns its YAML documents in file order.
func RenderChart(dir, release, namespace string, values map[string]any) ([]string, error) {
	docs, err := render(dir, release, namespace, values)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(docs))
	for i, d := range docs {
		out[i] = d.text
	}
	return out, nil
}

// document is one YAML document a chart rendered, with its template file.
type document struct{ file, text string }

// render renders a chart the way helm install does: dependencies disabled
// by their condition or tags are left out and aliases applied, then the
// templates are rendered. Documents come in file order. An empty release
// name is the chart's.
func render(dir, release, namespace string, values map[string]any) ([]document, error) {
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, err
	}
	if release == "" {
		release = ch.Name()
	}
	if err := chartutil.ProcessDependenciesWithMerge(ch, values); err != nil {
		return nil, fmt.Errorf("dependencies: %w", err)
	}
	rv, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: release, Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("values: %w", err)
	}
	out, err := engine.Render(ch, rv)
	if err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	var docs []document
	for _, name := range slices.Sorted(maps.Keys(out)) {
		if !strings.HasSuffix(name, ".yaml") && !strings.HasSuffix(name, ".yml") {
			continue
		}
		for _, doc := range strings.Split(out[name], "\n---") {
			if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(doc), "---")) != "" {
				docs = append(docs, document{file: name, text: doc})
			}
		}
	}
	return docs, nil
}

// IsChart reports whether dir holds a Helm chart (a Chart.yaml).
func IsChart(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "Chart.yaml"))
	return !errors.Is(err, fs.ErrNotExist) && err == nil
}
