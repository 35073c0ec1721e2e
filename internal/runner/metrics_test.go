package runner

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Instances count as their stage (a PR adds instance files: their names
// must not make series without bound), and a stage's every series exists
// from its first run.
func TestRunMetricsByStage(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newRunMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"tenant:acme", "tenant:globex", "tenant:a-thousand-more"} {
		m.observe(name, "plan", "changes", time.Second)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "stagebot_terraform_runs_total" {
			continue
		}
		if n := len(f.GetMetric()); n != 8 {
			t.Errorf("%d series of runs, want the 8 outcomes of one stage", n)
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			want := 0.0
			if labels["operation"] == "plan" && labels["outcome"] == "changes" {
				want = 3
			}
			if labels["stage"] != "tenant" || s.GetCounter().GetValue() != want {
				t.Errorf("series %v = %v, want %v", labels, s.GetCounter().GetValue(), want)
			}
		}
	}
}
