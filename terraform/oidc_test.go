package terraform_test

import (
	"net/url"
	"os"
	"regexp"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/stagebot/stagebot/internal/config"
)

// yamlFile reads a YAML file into a node tree, keeping tags such as !Env.
func yamlFile(t *testing.T, path string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Content[0]
}

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

// envValue is the value of name in a list of {name, value} env entries.
func envValue(list *yaml.Node, name string) (string, bool) {
	for i := 0; list != nil && i < len(list.Content); i++ {
		if str(at(list.Content[i], "name")) == name {
			return str(at(list.Content[i], "value")), true
		}
	}
	return "", false
}

// The Open WebUI login chain, link by link, as the files that make it say:
// Authentik's worker mounts the blueprint the platform stage puts in a
// ConfigMap; the blueprint's client secret is !Env of a key stagebot
// generates in the Secret Authentik reads; stagebot copies that key into the
// Secret and key Open WebUI reads; client id, redirect URI and issuer agree
// on both sides. The runtime half (the same value in both Secrets, kept
// across syncs) is cmd/bot's TestOpenWebUIClientSecretChain.
func TestOpenWebUILoginChain(t *testing.T) {
	authentik := yamlFile(t, "../charts/authentik/values.yaml")
	openwebui := yamlFile(t, "../charts/openwebui/values.yaml")
	blueprint := yamlFile(t, "../charts/authentik/blueprints/openwebui.yaml")
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

	// The ConfigMap the platform stage manages holds the blueprint file, and
	// the Authentik chart mounts it.
	cm := regexp.MustCompile(`(?s)resource "kubernetes_config_map_v1" "authentik_blueprints" \{.*?name\s+= "([^"]+)"\s+namespace\s+= "([^"]+)".*?file\("\$\{path\.module\}/\.\./\.\./charts/authentik/blueprints/openwebui\.yaml"\)`).FindSubmatch(platform)
	if cm == nil {
		t.Fatal("terraform/platform manages no ConfigMap with charts/authentik/blueprints/openwebui.yaml")
	}
	if string(cm[2]) != "admin-apps" {
		t.Errorf("the blueprint ConfigMap is in %s, Authentik in admin-apps", cm[2])
	}
	mounted := at(authentik, "blueprints", "configMaps")
	if mounted == nil || !slices.ContainsFunc(mounted.Content, func(n *yaml.Node) bool { return n.Value == string(cm[1]) }) {
		t.Errorf("Authentik's values do not mount the blueprint ConfigMap %s (blueprints.configMaps)", cm[1])
	}

	// Settings reach Authentik through the environment: with existingSecret
	// the chart renders no Secret, so authentik.log_level and friends would
	// change nothing.
	authSecret := str(at(authentik, "authentik", "existingSecret", "secretName"))
	for _, dead := range []string{"log_level", "error_reporting", "secret_key", "postgresql"} {
		if authSecret != "" && at(authentik, "authentik", dead) != nil {
			t.Errorf("authentik.%s is set, but with existingSecret the chart ignores it: use global.env", dead)
		}
	}
	for _, name := range []string{"AUTHENTIK_LOG_LEVEL", "AUTHENTIK_ERROR_REPORTING__ENABLED"} {
		if _, ok := envValue(at(authentik, "global", "env"), name); !ok {
			t.Errorf("global.env does not set %s", name)
		}
	}

	// The provider's client secret is read from Authentik's environment, from
	// a key stagebot generates in the Secret Authentik reads.
	provider, app := at(blueprint, "entries", 0), at(blueprint, "entries", 1)
	if str(at(provider, "model")) != "authentik_providers_oauth2.oauth2provider" || str(at(app, "model")) != "authentik_core.application" {
		t.Fatal("the blueprint's entries are not the OAuth2 provider and its application")
	}
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
	// Secret and key its values name, in its release's namespace.
	owSecret, owKey := str(at(openwebui, "sso", "oidc", "clientExistingSecret")), str(at(openwebui, "sso", "oidc", "clientExistingSecretKey"))
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

	// Client id, redirect URI and issuer agree on both sides.
	if got, want := str(at(provider, "attrs", "client_id")), str(at(openwebui, "sso", "oidc", "clientId")); got != want || got == "" {
		t.Errorf("client_id %q in the blueprint, %q in Open WebUI's values", got, want)
	}
	redirect := str(at(provider, "attrs", "redirect_uris", 0, "url"))
	if got, _ := envValue(at(openwebui, "extraEnvVars"), "OPENID_REDIRECT_URI"); got != redirect {
		t.Errorf("Open WebUI sends redirect URI %q, Authentik allows %q", got, redirect)
	}
	if u, err := url.Parse(redirect); err != nil || u.Scheme != "https" || u.Host != str(at(openwebui, "ingress", "host")) || u.Path != "/oauth/oidc/callback" {
		t.Errorf("redirect URI %q is not https://<Open WebUI's ingress host>/oauth/oidc/callback", redirect)
	}
	issuer := "https://" + str(at(authentik, "server", "ingress", "hosts", 0)) + "/application/o/" + str(at(app, "identifiers", "slug")) + "/.well-known/openid-configuration"
	if got := str(at(openwebui, "sso", "oidc", "providerUrl")); got != issuer {
		t.Errorf("Open WebUI's providerUrl is %q, Authentik serves the application at %q", got, issuer)
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
