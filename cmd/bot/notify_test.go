package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// hookServer records what the notification targets receive; the audit
// target answers 500 to its first failFirst requests.
type hookServer struct {
	mu        sync.Mutex
	failFirst int
	got       []hookRequest
}

type hookRequest struct {
	Path, Signature, Event, Delivery string
	Body                             []byte
	Status                           int
}

func (h *hookServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	status := http.StatusOK
	if r.URL.Path == "/audit" && h.failFirst > 0 {
		h.failFirst--
		status = http.StatusInternalServerError
	}
	h.got = append(h.got, hookRequest{Path: r.URL.Path, Signature: r.Header.Get("X-Stagebot-Signature-256"), Event: r.Header.Get("X-Stagebot-Event"),
		Delivery: r.Header.Get("X-Stagebot-Delivery"), Body: body, Status: status})
	w.WriteHeader(status)
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

// TestNotificationsOfAnApply: an apply's notification reaches a generic
// webhook after it answered 500 twice (retried by the queue, the same
// delivery each time), signed with the target's secret as GitHub signs
// its webhooks, and a Slack target; no body holds a secret: the apply's
// credential, the stage's sensitive output, the targets' own secret and
// URL.
func TestNotificationsOfAnApply(t *testing.T) {
	const hookSecret, token = "hook-hmac-s3cret-81c2", "apply-t0ken-77ad31"
	hooks := &hookServer{failFirst: 2}
	srv := httptest.NewServer(hooks)
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "notifications.yaml")
	slackPath := "/slack/T000/B000/XXXXsecretpath"
	os.WriteFile(file, []byte(fmt.Sprintf(`targets:
  - name: audit
    type: webhook
    url: %s/audit
    secret: %s
  - name: chat
    type: slack
    url: %s%s
    events: [apply_succeeded, apply_failed]
`, srv.URL, hookSecret, srv.URL, slackPath)), 0o600)
	f, state := mergeFlow(t, "STAGEBOT_NOTIFICATIONS_FILE="+file, "STAGEBOT_NOTIFICATIONS_RETRY_WAIT=300ms",
		"STAGEBOT_APPLY_ENV=TOKEN=SRC_TOKEN", "SRC_TOKEN="+token)
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	// The apply's credential is printed by a provisioner into the apply's
	// output.
	withToken := mainTF + "\nresource \"terraform_data\" \"announce\" {\n  provisioner \"local-exec\" {\n    command = \"echo token=$TOKEN\"\n  }\n}\n"
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": withToken}, f.base, 1)
	f.say(1, "alice", "/apply infrastructure")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")

	var audit []hookRequest
	eventually(t, time.Minute, "the audit webhook to take the apply", func() bool {
		audit = nil
		for _, r := range hooks.requests() {
			if r.Path == "/audit" && r.Event == "apply_succeeded" {
				audit = append(audit, r)
			}
		}
		return len(audit) > 0 && audit[len(audit)-1].Status == http.StatusOK
	})
	if len(audit) != 3 || audit[0].Status != 500 || audit[1].Status != 500 {
		t.Errorf("the audit webhook took %d requests for the apply (want two 500s, then one 200)", len(audit))
	}
	for _, r := range audit {
		if r.Delivery != audit[0].Delivery || string(r.Body) != string(audit[0].Body) {
			t.Errorf("a retry sent another delivery: %s %s", r.Delivery, r.Body)
		}
		mac := hmac.New(sha256.New, []byte(hookSecret))
		mac.Write(r.Body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(r.Signature), []byte(want)) {
			t.Errorf("signature %q, want %q", r.Signature, want)
		}
	}
	var ev struct {
		Kind, Repo, Stage, Commit, Actor, Summary, URL string
		PR                                             int
	}
	if err := json.Unmarshal(audit[0].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Kind != "apply_succeeded" || ev.Repo != "acme/platform" || ev.PR != 1 || ev.Stage != "infrastructure" || ev.Actor != "alice" ||
		!strings.HasPrefix(ev.Summary, "Applied: +3 to add") || !strings.HasSuffix(ev.URL, "/acme/platform/pull/1") {
		t.Errorf("the event: %+v", ev)
	}
	eventually(t, 30*time.Second, "the Slack message", func() bool {
		for _, r := range hooks.requests() {
			if r.Path == slackPath && strings.Contains(string(r.Body), `"text":`) && strings.Contains(string(r.Body), "infrastructure") {
				return true
			}
		}
		return false
	})
	for _, r := range hooks.requests() {
		for _, secret := range []string{token, hookSecret, "demo-password-not-real", "XXXXsecretpath"} {
			if strings.Contains(string(r.Body), secret) {
				t.Errorf("a notification to %s holds a secret: %s", r.Path, r.Body)
			}
		}
	}
	if strings.Contains(f.bot.Logs(), hookSecret) || strings.Contains(f.bot.Logs(), "XXXXsecretpath") {
		t.Error("the bot's log shows a notification target's secret or URL")
	}
}
