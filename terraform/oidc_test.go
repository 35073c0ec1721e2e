package terraform_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/stagebot/stagebot/internal/config"
)

// at follows keys and list indexes; nil when the path is not there.
func at(n *yaml.Node, path ...any) *yaml.Node {
	for _, p := range path {
		if n == nil {
			return nil
		}
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			for i := 0; n.Kind == yaml.MappingNode && i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					next = n.Content[i+1]
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
			}
		}
		n = next
	}
	return n
}

func str(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// login evaluates terraform/modules/login with real Terraform (it needs no
// provider) for the given hostnames, and returns its outputs.
func login(t *testing.T, hosts map[string]string) (authentikValues, openwebuiValues map[string]any, blueprint *yaml.Node, urls map[string]string) {
	t.Helper()
	dir := t.TempDir()
	abs, _ := filepath.Abs("modules/login")
	// A relative source, so that Terraform reads the module in place
	// (an absolute one is copied, without the charts it reads).
	src, err := filepath.Rel(dir, abs)
	if err != nil {
		t.Fatal(err)
	}
	root := fmt.Sprintf(`module "login" {
  source         = %q
  hosts          = { authentik = %q, openwebui = %q }
  ingress_class  = "traefik"
  cluster_issuer = "letsencrypt"
}
output "authentik_values" { value = module.login.authentik_values }
output "openwebui_values" { value = module.login.openwebui_values }
output "blueprint" { value = module.login.blueprint }
output "urls" { value = module.login.urls }
`, src, hosts["authentik"], hosts["openwebui"])
	os.WriteFile(filepath.Join(dir, "main.tf"), []byte(root), 0o600)
	tf := func(args ...string) []byte {
		cmd := exec.Command(terraformBin(), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "TF_CLI_CONFIG_FILE=/dev/null", "CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1")
		out, err := cmd.Output()
		if err != nil {
			var stderr []byte
			if ee, ok := err.(*exec.ExitError); ok {
				stderr = ee.Stderr
			}
			t.Fatalf("terraform %s: %v\n%s%s", args[0], err, out, stderr)
		}
		return out
	}
	tf("init", "-input=false", "-no-color")
	tf("apply", "-auto-approve", "-input=false", "-no-color")
	var outs map[string]struct {
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(tf("output", "-json"), &outs); err != nil {
		t.Fatal(err)
	}
	var av, ov, bp string
	json.Unmarshal(outs["authentik_values"].Value, &av)
	json.Unmarshal(outs["openwebui_values"].Value, &ov)
	json.Unmarshal(outs["blueprint"].Value, &bp)
	json.Unmarshal(outs["urls"].Value, &urls)
	if err := sigsyaml.Unmarshal([]byte(av), &authentikValues); err != nil {
		t.Fatal(err)
	}
	if err := sigsyaml.Unmarshal([]byte(ov), &openwebuiValues); err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(bp), &doc); err != nil {
		t.Fatalf("the rendered blueprint: %v\n%s", err, bp)
	}
	return authentikValues, openwebuiValues, doc.Content[0], urls
}

// valuesFile reads a chart values file as Helm does.
func valuesFile(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := sigsyaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

// over merges values files as Helm does: maps key by key, anything else
// replaced by the later file.
func over(base, top map[string]any) map[string]any {
	out := maps.Clone(base)
	for k, v := range top {
		if bm, ok := out[k].(map[string]any); ok {
			if tm, ok := v.(map[string]any); ok {
				out[k] = over(bm, tm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// get follows keys and list indexes in decoded values; "" when absent.
func get(v any, path ...any) any {
	for _, p := range path {
		switch p := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[p]
		case int:
			l, _ := v.([]any)
			if p >= len(l) {
				return nil
			}
			v = l[p]
		}
	}
	return v
}

func gets(v any, path ...any) string {
	s, _ := get(v, path...).(string)
	return s
}

// envOf is the value of name in a list of {name, value} env entries.
func envOf(list any, name string) (string, bool) {
	l, _ := list.([]any)
	for _, e := range l {
		if gets(e, "name") == name {
			return gets(e, "value"), true
		}
	}
	return "", false
}

// The Open WebUI login chain, link by link, as Terraform renders it for a
// domain: the hostnames the infrastructure stage derives and gives DNS
// records; each app's Ingress on them (Traefik's class, a certificate from
// the cluster stage's issuer); Authentik's worker mounts the blueprint the
// platform stage puts in a ConfigMap, which first applies the defaults it
// looks up; its client secret is !Env of a key stagebot generates in the
// Secret Authentik reads; stagebot copies that key into the Secret and key
// Open WebUI reads; client id, redirect URI and issuer agree on both sides.
// The runtime half (the same value in both Secrets, kept across syncs) is
// cmd/bot's TestOpenWebUIClientSecretChain.
func TestOpenWebUILoginChain(t *testing.T) {
	hosts := map[string]string{"authentik": "auth.chain.example.org", "openwebui": "chat.chain.example.org"}
	authentikTop, openwebuiTop, blueprint, urls := login(t, hosts)
	authentik := over(valuesFile(t, "../charts/authentik/values.yaml"), authentikTop)
	openwebui := over(valuesFile(t, "../charts/openwebui/values.yaml"), openwebuiTop)
	cfgData, err := os.ReadFile("../stagebot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.ParseRepo(cfgData, "..")
	if err != nil {
		t.Fatal(err)
	}
	platform, err := os.ReadFile("platform/main.tf")
	if err != nil {
		t.Fatal(err)
	}
	infra, err := os.ReadFile("infrastructure/ingress.tf")
	if err != nil {
		t.Fatal(err)
	}

	// The platform stage hands the module's values to the releases and its
	// blueprint to the ConfigMap the Authentik chart mounts.
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?s)resource "helm_release" "authentik" \{[^}]*values\s+= \[file\("\$\{path\.module\}/\.\./\.\./charts/authentik/values\.yaml"\), module\.login\.authentik_values\]`),
		regexp.MustCompile(`(?s)resource "helm_release" "openwebui" \{[^}]*values\s+= \[file\("\$\{path\.module\}/\.\./\.\./charts/openwebui/values\.yaml"\), module\.login\.openwebui_values\]`),
		regexp.MustCompile(`(?s)module "login" \{[^}]*hosts\s+= local\.infra\.hosts`),
	} {
		if !want.Match(platform) {
			t.Errorf("terraform/platform/main.tf does not match %s", want)
		}
	}
	cm := regexp.MustCompile(`(?s)resource "kubernetes_config_map_v1" "authentik_blueprints" \{.*?name\s+= "([^"]+)"\s+namespace\s+= "([^"]+)".*?"openwebui\.yaml" = module\.login\.blueprint`).FindSubmatch(platform)
	if cm == nil {
		t.Fatal("terraform/platform manages no ConfigMap with the login module's blueprint")
	}
	if string(cm[2]) != "admin-apps" {
		t.Errorf("the blueprint ConfigMap is in %s, Authentik in admin-apps", cm[2])
	}
	if mounted, _ := get(authentik, "blueprints", "configMaps").([]any); !slices.Contains(mounted, any(string(cm[1]))) {
		t.Errorf("Authentik's values do not mount the blueprint ConfigMap %s (blueprints.configMaps)", cm[1])
	}

	// Every hostname follows from the domain and has a DNS record at the
	// ingress IP.
	for app, prefix := range map[string]string{"authentik": "auth", "openwebui": "chat"} {
		if !regexp.MustCompile(`(?m)^\s+`+app+`\s+= "`+prefix+`\.\$\{var\.domain\}"$`).Match(infra) || !regexp.MustCompile(`(?m)^\s+`+app+`\s+= "`+prefix+`"$`).Match(infra) {
			t.Errorf("infrastructure/ingress.tf does not derive %s's host %s.<domain> and give it a record", app, prefix)
		}
	}

	// Each app's Ingress: its host, the ingress controller's class, HTTPS
	// with a certificate from the cluster stage's issuer.
	issuer := valuesFile(t, "../charts/cluster-issuer/values.yaml")
	traefik := valuesFile(t, "../charts/traefik/values.yaml")
	class := gets(traefik, "ingressClass", "name")
	if class == "" || gets(issuer, "ingressClassName") != class {
		t.Errorf("the issuer's HTTP-01 solver uses class %q, Traefik's class is %q", gets(issuer, "ingressClassName"), class)
	}
	for name, ing := range map[string]any{"Authentik": get(authentik, "server", "ingress"), "Open WebUI": get(openwebui, "ingress")} {
		if get(ing, "enabled") != true {
			t.Errorf("%s has no Ingress", name)
		}
		if c := gets(ing, "ingressClassName") + gets(ing, "class"); c != class {
			t.Errorf("%s's Ingress has class %q, the controller %q", name, c, class)
		}
		if got := gets(ing, "annotations", "cert-manager.io/cluster-issuer"); got != gets(issuer, "name") {
			t.Errorf("%s's certificate comes from issuer %q, the cluster has %q", name, got, gets(issuer, "name"))
		}
	}
	if h := gets(authentik, "server", "ingress", "hosts", 0); h != hosts["authentik"] || gets(authentik, "server", "ingress", "tls", 0, "hosts", 0) != h {
		t.Errorf("Authentik's Ingress serves %q with TLS for %q, want %s", h, gets(authentik, "server", "ingress", "tls", 0, "hosts", 0), hosts["authentik"])
	}
	if h := gets(openwebui, "ingress", "host"); h != hosts["openwebui"] || get(openwebui, "ingress", "tls") != true {
		t.Errorf("Open WebUI's Ingress serves %q (tls %v), want %s over TLS", h, get(openwebui, "ingress", "tls"), hosts["openwebui"])
	}
	if urls["authentik"] != "https://"+hosts["authentik"] || urls["openwebui"] != "https://"+hosts["openwebui"] {
		t.Errorf("urls %v", urls)
	}

	// Settings reach Authentik through the environment: with existingSecret
	// the chart renders no Secret, so authentik.log_level and friends would
	// change nothing.
	authSecret := gets(authentik, "authentik", "existingSecret", "secretName")
	for _, dead := range []string{"log_level", "error_reporting", "secret_key", "postgresql"} {
		if authSecret != "" && get(authentik, "authentik", dead) != nil {
			t.Errorf("authentik.%s is set, but with existingSecret the chart ignores it: use global.env", dead)
		}
	}
	for _, name := range []string{"AUTHENTIK_LOG_LEVEL", "AUTHENTIK_ERROR_REPORTING__ENABLED"} {
		if _, ok := envOf(get(authentik, "global", "env"), name); !ok {
			t.Errorf("global.env does not set %s", name)
		}
	}

	// The blueprint first applies the defaults it looks up, then makes the
	// provider and its application.
	var provider, app *yaml.Node
	applied := map[string]bool{}
	for i, e := range at(blueprint, "entries").Content {
		switch str(at(e, "model")) {
		case "authentik_blueprints.metaapplyblueprint":
			if provider != nil {
				t.Errorf("entry %d applies a default blueprint after the provider that needs it", i)
			}
			if str(at(e, "attrs", "required")) != "true" {
				t.Errorf("entry %d does not require its blueprint", i)
			}
			applied[str(at(e, "attrs", "identifiers", "name"))] = true
		case "authentik_providers_oauth2.oauth2provider":
			provider = e
		case "authentik_core.application":
			app = e
		}
	}
	if provider == nil || app == nil {
		t.Fatal("the blueprint has no OAuth2 provider and application")
	}
	for _, want := range []string{"Default - Provider authorization flow (implicit consent)", "Default - Provider invalidation flow", "System - OAuth2 Provider - Scopes"} {
		if !applied[want] {
			t.Errorf("the blueprint does not apply %q before its lookups", want)
		}
	}

	// The provider's client secret is read from Authentik's environment, from
	// a key stagebot generates in the Secret Authentik reads.
	secretNode := at(provider, "attrs", "client_secret")
	if secretNode == nil || secretNode.Tag != "!Env" {
		t.Fatal("the blueprint's client_secret is not read with !Env: a secret would live in the repository")
	}
	envKey := secretNode.Value
	authSync := findSecret(cfg, authSecret)
	if authSync == nil || authSync.Namespace != "admin-apps" || authSync.Generate[envKey] == "" {
		t.Fatalf("stagebot.yaml does not generate %s in admin-apps/%s", envKey, authSecret)
	}

	// Open WebUI reads the same value: stagebot copies that key into the
	// Secret and key its values name, in its release's namespace, and
	// restarts it when the value changes.
	owSecret, owKey := gets(openwebui, "sso", "oidc", "clientExistingSecret"), gets(openwebui, "sso", "oidc", "clientExistingSecretKey")
	owSync := findSecret(cfg, owSecret)
	if owSync == nil {
		t.Fatalf("stagebot.yaml does not write Open WebUI's Secret %q", owSecret)
	}
	if want := authSecret + "." + envKey; owSync.Copy[owKey] != want {
		t.Errorf("stagebot.yaml writes %s/%s key %s as %q, want a copy of %s", owSync.Namespace, owSecret, owKey, owSync.Copy[owKey], want)
	}
	ns := regexp.MustCompile(`(?s)resource "helm_release" "openwebui" \{.*?namespace\s+= "([^"]+)"`).FindSubmatch(platform)
	if ns == nil || string(ns[1]) != owSync.Namespace {
		t.Errorf("Open WebUI's release and its Secret %s are in different namespaces", owSecret)
	}
	if gets(openwebui, "workload", "kind") != "StatefulSet" || !slices.Contains(owSync.Restart, "statefulset/open-webui") {
		t.Errorf("Open WebUI runs as a %q, stagebot.yaml restarts %v", gets(openwebui, "workload", "kind"), owSync.Restart)
	}

	// Client id, redirect URI and issuer agree on both sides.
	if got, want := str(at(provider, "attrs", "client_id")), gets(openwebui, "sso", "oidc", "clientId"); got != want || got == "" {
		t.Errorf("client_id %q in the blueprint, %q in Open WebUI's values", got, want)
	}
	redirect := str(at(provider, "attrs", "redirect_uris", 0, "url"))
	if got, _ := envOf(get(openwebui, "extraEnvVars"), "OPENID_REDIRECT_URI"); got != redirect {
		t.Errorf("Open WebUI sends redirect URI %q, Authentik allows %q", got, redirect)
	}
	if u, err := url.Parse(redirect); err != nil || u.Scheme != "https" || u.Host != gets(openwebui, "ingress", "host") || u.Path != "/oauth/oidc/callback" {
		t.Errorf("redirect URI %q is not https://<Open WebUI's ingress host>/oauth/oidc/callback", redirect)
	}
	if got, _ := envOf(get(openwebui, "extraEnvVars"), "WEBUI_URL"); got != "https://"+gets(openwebui, "ingress", "host") || str(at(app, "attrs", "meta_launch_url")) != got {
		t.Errorf("Open WebUI's WEBUI_URL is %q, its launch URL in Authentik %q", got, str(at(app, "attrs", "meta_launch_url")))
	}
	issuerURL := "https://" + gets(authentik, "server", "ingress", "hosts", 0) + "/application/o/" + str(at(app, "identifiers", "slug")) + "/.well-known/openid-configuration"
	if got := gets(openwebui, "sso", "oidc", "providerUrl"); got != issuerURL {
		t.Errorf("Open WebUI's providerUrl is %q, Authentik serves the application at %q", got, issuerURL)
	}
}

func findSecret(cfg *config.Repo, name string) *config.SecretSync {
	for i := range cfg.Secrets {
		if cfg.Secrets[i].Name == name {
			return &cfg.Secrets[i]
		}
	}
	return nil
}
