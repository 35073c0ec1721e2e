package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/kube/kubetest"
)

// TestSecretSyncBetweenStages: applying platform first writes the Authentik
// secret from the infrastructure outputs into a real API server, and the
// platform comment names the keys, never the values.
func TestSecretSyncBetweenStages(t *testing.T) {
	api := kubetest.Start(t)
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	cfg := `version: 1
stages:
  - name: infrastructure
    dir: terraform/infrastructure
  - name: platform
    dir: terraform/platform
    depends_on: [infrastructure]
apply:
  requirements: []
secrets:
  - name: authentik-env-secrets
    namespace: admin-apps
    after: infrastructure
    kubeconfig: infrastructure.kubeconfig
    data:
      AUTHENTIK_POSTGRESQL__HOST: infrastructure.postgres_host
      AUTHENTIK_POSTGRESQL__PORT: infrastructure.postgres_port
      AUTHENTIK_POSTGRESQL__PASSWORD: infrastructure.postgres_password
    generate:
      AUTHENTIK_SECRET_KEY: hex32
    restart: [deployment/authentik-server]
`
	backend := func(name string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", state+"/"+name+".tfstate")
	}
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    cfg,
		"terraform/infrastructure/main.tf": backend("infrastructure"),
		"terraform/platform/main.tf":       backend("platform"),
	}, "init")
	infra := backend("infrastructure") + fmt.Sprintf(`
output "kubeconfig" {
  value     = %q
  sensitive = true
}
output "postgres_host" {
  value = "pg.internal"
}
output "postgres_port" {
  value = 5432
}
output "postgres_password" {
  value     = "pg-password-do-not-show"
  sensitive = true
}
`, string(api.Kubeconfig(kubetest.AdminToken, true)))
	head := gh.Commit(repo, "cluster", "main", map[string]string{
		"terraform/infrastructure/main.tf": infra,
		"terraform/platform/main.tf":       backend("platform") + "resource \"terraform_data\" \"authentik\" {\n  input = \"release\"\n}\n",
	}, "cluster")
	gh.SetPermission(repo, "alice", "write")
	gh.AddPull(repo, githubtest.Pull{Number: 5, Author: "alice", HeadRef: "cluster", HeadSHA: head, BaseSHA: base})
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, t.TempDir()))}
	f.deliver("pull_request", gh.PullRequestPayload(repo, 5, "opened", 0))
	f.stageComment(5, "platform", "Waiting for `infrastructure`")
	f.say(5, "alice", "/apply infrastructure")
	f.stageComment(5, "platform", "+1 to add")
	f.say(5, "alice", "/apply platform")
	body := f.stageComment(5, "platform", "✅ stagebot applied `platform`")
	if !strings.Contains(body, "Secret `admin-apps/authentik-env-secrets` created with keys `AUTHENTIK_POSTGRESQL__HOST`, `AUTHENTIK_POSTGRESQL__PASSWORD`, `AUTHENTIK_POSTGRESQL__PORT`, `AUTHENTIK_SECRET_KEY`") {
		t.Errorf("platform comment does not report the secret:\n%s", body)
	}
	for _, c := range gh.Comments(repo, 5) {
		if strings.Contains(c.Body, "pg-password-do-not-show") || strings.Contains(c.Body, kubetest.AdminToken) {
			t.Errorf("a secret value is in a comment:\n%s", c.Body)
		}
	}
	kc, err := kube.Client(api.Kubeconfig(kubetest.AdminToken, false), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := kc.CoreV1().Secrets("admin-apps").Get(context.Background(), "authentik-env-secrets", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(sec.Data["AUTHENTIK_POSTGRESQL__PASSWORD"]) != "pg-password-do-not-show" || string(sec.Data["AUTHENTIK_POSTGRESQL__PORT"]) != "5432" || len(sec.Data["AUTHENTIK_SECRET_KEY"]) != 64 {
		t.Errorf("secret data keys: %v", len(sec.Data))
	}
	if strings.Contains(f.bot.Logs(), "pg-password-do-not-show") || strings.Contains(f.bot.Logs(), kubetest.AdminToken) {
		t.Error("a secret value is in the bot's logs")
	}
}
