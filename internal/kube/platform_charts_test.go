package kube

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/stagebot/stagebot/internal/kube/kubetest"
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
	kc := admin(t)
	ctx := context.Background()
	ns := "wordpress-tenant-acme"
	kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	cfg, err := clientcmd.RESTConfigFromKubeConfig(srv.Kubeconfig(kubetest.AdminToken, false))
	if err != nil {
		t.Fatal(err)
	}
	applyDocs(t, cfg, ns, docs)
	if _, err := kc.AppsV1().Deployments(ns).Get(ctx, "wordpress", metav1.GetOptions{}); err != nil {
		t.Fatalf("installed deployment: %v", err)
	}
}
