package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/stagebot/stagebot/internal/github/githubtest"
	"github.com/stagebot/stagebot/internal/kube"
	"github.com/stagebot/stagebot/internal/kube/kubetest"
)

// TestSecretSyncBetweenStages: applying platform first writes the Authentik
// secret from the infrastructure outputs into a real API server, and the
// platform comment names the keys, never the values.
func TestSecretSyncBetweenStages(t *testing.T) {
	f := applyClusterPR(t, `  - name: authentik-env-secrets
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
`, nil)
	gh, repo, api := f.gh, f.repo, f.api
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

	// What an operator's Prometheus sees: the build, and each stage's runs
	// by operation and outcome, every series there from the stage's first
	// run (a rate of failures needs a zero to start from).
	resp, err := http.Get(f.bot.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`stagebot_build_info{commit="`,
		`stagebot_terraform_runs_total{operation="apply",outcome="applied",stage="infrastructure"} 1`,
		`stagebot_terraform_runs_total{operation="apply",outcome="applied",stage="platform"} 1`,
		`stagebot_terraform_runs_total{operation="apply",outcome="failed",stage="infrastructure"} 0`,
		`stagebot_terraform_runs_total{operation="drift",outcome="drift",stage="platform"} 0`,
		`stagebot_terraform_run_seconds_count{operation="apply",outcome="applied",stage="platform"} 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`stagebot_terraform_runs_total\{operation="plan",outcome="changes",stage="platform"\} [1-9]`).Match(metrics) {
		t.Error("/metrics counts no plan of platform with changes")
	}
}

// TestOpenWebUIClientSecretChain runs this repository's own secrets section
// of stagebot.yaml against a real API server: the client secret Open WebUI
// reads (its values' clientExistingSecret and key) is the value Authentik's
// blueprint reads from its environment (!Env, from authentik-env-secrets);
// a second sync keeps it; and it never reaches a comment, a check run or a
// log. terraform's TestOpenWebUILoginChain checks the same links in the
// files.
func TestOpenWebUIClientSecretChain(t *testing.T) {
	ours, err := os.ReadFile("../../stagebot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, secretsSection, ok := strings.Cut(string(ours), "\nsecrets:\n")
	if !ok {
		t.Fatal("stagebot.yaml has no secrets section")
	}
	blueprint, err := os.ReadFile("../../charts/authentik/blueprints/openwebui.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := regexp.MustCompile(`client_secret: !Env (\S+)`).FindSubmatch(blueprint)
	if env == nil {
		t.Fatal("the blueprint reads no client secret from the environment")
	}
	var owValues struct {
		SSO struct {
			OIDC struct {
				Secret string `json:"clientExistingSecret"`
				Key    string `json:"clientExistingSecretKey"`
			} `json:"oidc"`
		} `json:"sso"`
	}
	b, _ := os.ReadFile("../../charts/openwebui/values.yaml")
	if err := sigsyaml.Unmarshal(b, &owValues); err != nil || owValues.SSO.OIDC.Secret == "" {
		t.Fatalf("Open WebUI's values name no client secret: %v", err)
	}

	// The secrets are written with the secret writer's token, as
	// terraform/cluster makes it: Roles from this stagebot.yaml's secrets.
	f := applyClusterPR(t, secretsSection, func(api *kubetest.Server) string {
		var cfg struct {
			Secrets []map[string]any `json:"secrets"`
		}
		if err := sigsyaml.Unmarshal(ours, &cfg); err != nil {
			t.Fatal(err)
		}
		docs, err := kube.RenderChart("../../charts/secret-writer", "secret-writer", "stagebot", map[string]any{"secrets": cfg.Secrets})
		if err != nil {
			t.Fatal(err)
		}
		api.Namespaces(t, "stagebot", "admin-apps", "open-webui")
		api.Apply(t, "stagebot", docs)
		token := api.ServiceAccountToken(t, "stagebot", "stagebot-secret-writer")
		return fmt.Sprintf("output \"secret_writer_kubeconfig\" {\n  value     = %q\n  sensitive = true\n}\n", api.Kubeconfig(token, false))
	})
	gh, repo, api, data, head, backend := f.gh, f.repo, f.api, f.data, f.head, f.backend
	body := f.stageComment(5, "platform", "✅ stagebot applied `platform`")
	ns := "open-webui"
	if !strings.Contains(body, "Secret `"+ns+"/"+owValues.SSO.OIDC.Secret+"` created with keys `"+owValues.SSO.OIDC.Key+"`") {
		t.Errorf("the platform comment does not report Open WebUI's secret:\n%s", body)
	}

	kc, err := kube.Client(api.Kubeconfig(kubetest.AdminToken, false), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	read := func() (authentik, openwebui string) {
		t.Helper()
		a, err := kc.CoreV1().Secrets("admin-apps").Get(context.Background(), "authentik-env-secrets", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		o, err := kc.CoreV1().Secrets(ns).Get(context.Background(), owValues.SSO.OIDC.Secret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return string(a.Data[string(env[1])]), string(o.Data[owValues.SSO.OIDC.Key])
	}
	authentik, openwebui := read()
	if len(authentik) != 64 || authentik != openwebui {
		t.Fatalf("Authentik reads a client secret of %d characters, Open WebUI one of %d; equal: %v", len(authentik), len(openwebui), authentik == openwebui)
	}

	// A second sync (another PR applies platform) keeps the value.
	// #5 is closed (its locks go), and #6, stacked on it so only platform
	// changes, applies platform again.
	gh.UpdatePull(repo, 5, func(p *githubtest.Pull) { p.State = "closed" })
	f.deliver("pull_request", gh.PullRequestPayload(repo, 5, "closed", 0))
	head2 := gh.Commit(repo, "more", "cluster", map[string]string{
		"terraform/platform/main.tf": backend("platform") + "resource \"terraform_data\" \"authentik\" {\n  input = \"release\"\n}\nresource \"terraform_data\" \"openwebui\" {\n  input = \"release\"\n}\n",
	}, "more")
	gh.AddPull(repo, githubtest.Pull{Number: 6, Author: "alice", HeadRef: "more", HeadSHA: head2, BaseSHA: head})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 6, "opened", 0))
	f.stageComment(6, "platform", "to add")
	f.say(6, "alice", "/apply platform")
	body = f.stageComment(6, "platform", "✅ stagebot applied `platform`")
	if !strings.Contains(body, "Secret `"+ns+"/"+owValues.SSO.OIDC.Secret+"` is up to date") {
		t.Errorf("the second sync changed Open WebUI's secret:\n%s", body)
	}
	if a2, o2 := read(); a2 != authentik || o2 != openwebui {
		t.Error("a second sync changed the client secret")
	}

	// Nowhere in what the bot wrote: comments, check runs, its log and the
	// Terraform logs in its data dir.
	for _, n := range []int{5, 6} {
		for _, c := range gh.Comments(repo, n) {
			if strings.Contains(c.Body, authentik) {
				t.Errorf("the client secret is in a comment on #%d", n)
			}
		}
	}
	for _, cr := range gh.CheckRuns(repo) {
		if strings.Contains(cr.Title+cr.Summary+cr.Text, authentik) {
			t.Errorf("the client secret is in check run %s", cr.Name)
		}
	}
	if strings.Contains(f.bot.Logs(), authentik) {
		t.Error("the client secret is in the bot's log")
	}
	for p, log := range terraformLogs(data) {
		if strings.Contains(log, authentik) {
			t.Errorf("the client secret is in %s", p)
		}
	}
}

// clusterPR is PR #5 of a repository whose infrastructure stage outputs a
// real API server's kubeconfig and a database's settings, and whose
// platform stage waits for it; stagebot.yaml's secrets are secretsYAML. It
// returns once infrastructure and platform are applied from the PR.
type clusterPR struct {
	*prFlow
	api     *kubetest.Server
	backend func(stage string) string
	infra   string // infrastructure's main.tf at the PR's head
	head    string
	data    string // the bot's data dir
}

// applyClusterPR opens and applies that PR. With cluster, a stage cluster
// comes between the two, whose outputs are what cluster returns for the API
// server (e.g. the secret writer's kubeconfig), and it is applied too.
func applyClusterPR(t *testing.T, secretsYAML string, cluster func(api *kubetest.Server) string) *clusterPR {
	c := &clusterPR{api: kubetest.Start(t), data: t.TempDir()}
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	stages := "  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: platform\n    dir: terraform/platform\n    depends_on: [infrastructure]\n"
	if cluster != nil {
		stages = "  - name: infrastructure\n    dir: terraform/infrastructure\n  - name: cluster\n    dir: terraform/cluster\n    depends_on: [infrastructure]\n  - name: platform\n    dir: terraform/platform\n    depends_on: [cluster]\n"
	}
	cfg := "version: 1\nstages:\n" + stages + "apply:\n  requirements: []\nsecrets:\n" + secretsYAML
	c.backend = func(name string) string {
		return fmt.Sprintf("terraform {\n  backend \"local\" {\n    path = %q\n  }\n}\n", state+"/"+name+".tfstate")
	}
	base := gh.Commit(repo, "main", "", map[string]string{
		"stagebot.yaml":                    cfg,
		"terraform/infrastructure/main.tf": c.backend("infrastructure"),
		"terraform/platform/main.tf":       c.backend("platform"),
	}, "init")
	c.infra = c.backend("infrastructure") + fmt.Sprintf(`
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
output "postgres_database" {
  value = "authentik"
}
output "postgres_user" {
  value = "authentik_abc"
}
output "postgres_password" {
  value     = "pg-password-do-not-show"
  sensitive = true
}
`, string(c.api.Kubeconfig(kubetest.AdminToken, true)))
	files := map[string]string{
		"terraform/infrastructure/main.tf": c.infra,
		"terraform/platform/main.tf":       c.backend("platform") + "resource \"terraform_data\" \"authentik\" {\n  input = \"release\"\n}\n",
	}
	if cluster != nil {
		files["terraform/cluster/main.tf"] = c.backend("cluster") + "resource \"terraform_data\" \"rbac\" {\n  input = \"secret-writer\"\n}\n" + cluster(c.api)
	}
	c.head = gh.Commit(repo, "cluster", "main", files, "cluster")
	gh.SetPermission(repo, "alice", "write")
	gh.AddPull(repo, githubtest.Pull{Number: 5, Author: "alice", HeadRef: "cluster", HeadSHA: c.head, BaseSHA: base})
	c.prFlow = &prFlow{t: t, gh: gh, repo: repo, base: base, bot: startBot(t, autoplanEnv(gh, c.data))}
	c.deliver("pull_request", gh.PullRequestPayload(repo, 5, "opened", 0))
	c.stageComment(5, "platform", "Waiting for `")
	c.say(5, "alice", "/apply infrastructure")
	if cluster != nil {
		c.stageComment(5, "cluster", "to add")
		c.say(5, "alice", "/apply cluster")
		c.stageComment(5, "cluster", "✅ stagebot applied `cluster`")
	}
	c.stageComment(5, "platform", "+1 to add")
	c.say(5, "alice", "/apply platform")
	return c
}
