package workflow

import (
	"encoding/json"
	"slices"
	"testing"
)

// A sensitive output that is a kubeconfig (the secret writer's, as
// terraform/cluster makes it with yamlencode) is redacted whole, and so is
// the token inside it wherever a plan shows it alone; the document's
// ordinary words are not.
func TestSensitiveLeavesOfAKubeconfig(t *testing.T) {
	kubeconfig := "\"apiVersion\": \"v1\"\n\"clusters\":\n- \"cluster\":\n    \"certificate-authority-data\": \"LS0tLS1CRUdJTiBDRVJU\"\n    \"server\": \"https://api.platform.example\"\n  \"name\": \"platform\"\n\"users\":\n- \"name\": \"stagebot-secret-writer\"\n  \"user\":\n    \"token\": \"eyJhbGciOiJSUzI1NiJ9.writer-token\"\n"
	raw, _ := json.Marshal(kubeconfig)
	leaves := sensitiveLeaves(raw)
	for _, want := range []string{kubeconfig, "eyJhbGciOiJSUzI1NiJ9.writer-token"} {
		if !slices.Contains(leaves, want) {
			t.Errorf("not redacted: %q", want)
		}
	}
	for _, ordinary := range []string{"platform", "stagebot-secret-writer", "https://api.platform.example", "v1"} {
		if slices.Contains(leaves, ordinary) {
			t.Errorf("%q would be redacted from every comment", ordinary)
		}
	}
	// A password that happens to look like "a: b" is still a plain value.
	raw, _ = json.Marshal(map[string]string{"password": "pa:ss-word-1234"})
	if l := sensitiveLeaves(raw); !slices.Contains(l, "pa:ss-word-1234") {
		t.Errorf("leaves %q", l)
	}
}
