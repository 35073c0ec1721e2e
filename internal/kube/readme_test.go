package kube

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/strvals"
)

// TestBotChartReadmeInstall renders the chart with the values of the
// README's helm install, as helm install would (values schema included),
// where no cluster takes it: the command's --set values are the chart's.
func TestBotChartReadmeInstall(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	install := regexp.MustCompile(`(?s)helm install stagebot deploy/chart/stagebot -n stagebot \\\n(.*?)\n\s*` + "```").FindSubmatch(readme)
	if install == nil {
		t.Fatal("no helm install in the README")
	}
	values := map[string]any{}
	sets := regexp.MustCompile(`--set '?([^' \n]+)'?`).FindAllSubmatch(install[1], -1)
	for _, m := range sets {
		if err := strvals.ParseInto(string(m[1]), values); err != nil {
			t.Fatalf("--set %s: %v", m[1], err)
		}
	}
	if len(sets) < 8 {
		t.Fatalf("read %d --set values from:\n%s", len(sets), install[1])
	}
	docs, err := RenderChart(botChart, "stagebot", "stagebot", values)
	if err != nil {
		t.Fatalf("the README's install does not render: %v", err)
	}
	all := strings.Join(docs, "\n---\n")
	for _, want := range []string{"kind: Ingress", "host: YOUR-HOST", `image: "REGISTRY/stagebot:TAG"`, "secretName: stagebot-plan", "secretName: stagebot-apply", "acme/platform"} {
		if !strings.Contains(all, want) {
			t.Errorf("the rendered install lacks %q", want)
		}
	}
}
