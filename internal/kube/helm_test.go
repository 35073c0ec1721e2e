package kube

import (
	"strings"
	"testing"
)

var managed = []Object{{Kind: "Secret", Namespace: "admin-apps", Name: "authentik-env-secrets"}}

func TestHelmChecks(t *testing.T) {
	tests := []struct {
		name, chart string
		values      []string
		ok          bool
		want        []string
	}{
		{"good chart", "good", []string{"testdata/charts/good/values.yaml"}, true, []string{"lint passed, 2 objects rendered"}},
		{"chart renders the bot's secret", "conflict", []string{"testdata/charts/conflict/values.yaml"}, false,
			[]string{"renders Secret admin-apps/authentik-env-secrets (in templates/secret.yaml)", "existingSecret"}},
		{"values that turn the secret off", "conflict", []string{"testdata/charts/conflict/values.yaml", "testdata/charts/conflict/values-fixed.yaml"}, true, []string{"lint passed"}},
		{"template error with file and line", "broken", nil, false, []string{"[ERROR] templates/", "deployment.yaml:6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := CheckChart("testdata/charts/"+tt.chart, "admin-apps", tt.values, managed)
			if rep.OK() != tt.ok {
				t.Errorf("OK = %v, want %v:\n%s", rep.OK(), tt.ok, rep.Summary())
			}
			for _, w := range tt.want {
				if !strings.Contains(rep.Summary(), w) {
					t.Errorf("summary lacks %q:\n%s", w, rep.Summary())
				}
			}
		})
	}
}
