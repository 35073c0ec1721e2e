package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const wordpressChart = "../../charts/wordpress"

func tenantValues() map[string]any {
	return map[string]any{"host": "acme.sites.example.com", "database": map[string]any{"existingSecret": "acme-db"}}
}

// The tenants' WordPress chart lints, renders what a tenant needs, and is
// accepted object by object by a real API server.
func TestWordPressChart(t *testing.T) {
	if rep := CheckChart(wordpressChart, "wordpress-tenant-acme", nil, nil); rep.OK() || !strings.Contains(rep.Summary(), "is required") {
		t.Errorf("without a host and the tenant's secret the chart must refuse to render:\n%s", rep.Summary())
	}
	if _, err := RenderChart(wordpressChart, "wordpress", "wordpress-tenant-acme", map[string]any{"host": "a.example.com"}); err == nil || !strings.Contains(err.Error(), "database.existingSecret is required") {
		t.Errorf("without the tenant's secret: %v", err)
	}
	if rep := CheckChart(wordpressChart, "wordpress-tenant-acme", []string{"testdata/wordpress-tenant.yaml"}, managed); !rep.OK() {
		t.Errorf("lint with a tenant's values:\n%s", rep.Summary())
	}
	docs, err := RenderChart(wordpressChart, "wordpress", "wordpress-tenant-acme", tenantValues())
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(docs, "\n")
	for _, want := range []string{"kind: Deployment", "kind: Service", "kind: Ingress", "kind: PersistentVolumeClaim", "CREATE DATABASE IF NOT EXISTS", "mountPath: /var/www/html/wp-content", "readinessProbe", "name: acme-db"} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered chart lacks %q", want)
		}
	}
	if strings.Contains(all, "kind: Secret") {
		t.Error("the chart renders a Secret: credentials come from the tenant stage's Secret")
	}

	srv := apiServer(t)
	ns := "wordpress-tenant-acme"
	srv.Namespaces(t, ns)
	srv.Apply(t, ns, docs)
	if _, err := admin(t).AppsV1().Deployments(ns).Get(context.Background(), "wordpress", metav1.GetOptions{}); err != nil {
		t.Fatalf("installed deployment: %v", err)
	}
}

func readValues(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := yaml.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

func lookup(v map[string]any, path string) any {
	var cur any = v
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

// The upstream charts' values: Authentik reads the Secret stagebot writes
// and renders none; Open WebUI logs in through Authentik with a client
// secret from a Secret, runs no model server, and its websockets have the
// Redis they are configured for.
func TestPlatformChartValues(t *testing.T) {
	a := readValues(t, "../../charts/authentik/values.yaml")
	for path, want := range map[string]any{
		"authentik.existingSecret.secretName": "authentik-env-secrets",
		"postgresql.enabled":                  false,
	} {
		if got := lookup(a, path); got != want {
			t.Errorf("authentik %s = %v, want %v", path, got, want)
		}
	}
	for _, banned := range []string{"authentik.secret_key", "authentik.postgresql.password", "redis"} {
		if lookup(a, banned) != nil {
			t.Errorf("authentik values set %s", banned)
		}
	}
	o := readValues(t, "../../charts/openwebui/values.yaml")
	for path, want := range map[string]any{
		"sso.oidc.enabled": true, "sso.oidc.clientExistingSecret": "openwebui-oidc",
		"ollama.enabled": false, "pipelines.enabled": false,
	} {
		if got := lookup(o, path); got != want {
			t.Errorf("openwebui %s = %v, want %v", path, got, want)
		}
	}
	if lookup(o, "sso.oidc.clientSecret") != nil {
		t.Error("openwebui values hold the OIDC client secret")
	}
	if lookup(o, "websocket.enabled") == true && lookup(o, "websocket.manager") == "redis" && lookup(o, "websocket.redis.enabled") != true && lookup(o, "websocket.url") == nil {
		t.Error("websockets use Redis, but no Redis is deployed or named")
	}
	// No secret or placeholder anywhere in charts/.
	filepath.Walk("../../charts", func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(p)
		for _, bad := range []string{"REPLACE_ME", "CHANGEME", "changeme", "PleaseGenerate", "password:", "secret_key:", "0p3n-w3bu"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q", p, bad)
			}
		}
		return nil
	})
}
