package kube

import (
	"context"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

const botChart = "../../deploy/chart/stagebot"

func chartValues(extra map[string]any) map[string]any {
	v := map[string]any{"github": map[string]any{"appId": "12345"}}
	for k, x := range extra {
		v[k] = x
	}
	return v
}

// kindsOf counts the kinds of rendered documents.
func kindsOf(docs []string) map[string]int {
	kinds := map[string]int{}
	for _, d := range docs {
		var meta struct{ Kind string }
		yaml.Unmarshal([]byte(d), &meta)
		kinds[meta.Kind]++
	}
	return kinds
}

func TestBotChartLintsAndRenders(t *testing.T) {
	rep := CheckChart(botChart, "stagebot", nil, nil)
	// Without an App id the chart refuses to render: that is the point.
	if rep.OK() || !strings.Contains(rep.Summary(), "github.appId is required") {
		t.Errorf("no appId: %s", rep.Summary())
	}
	docs, err := RenderChart(botChart, "stagebot", "stagebot", chartValues(nil))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	kinds := kindsOf(docs)
	for _, d := range docs {
		if strings.Contains(d, "\nkind: Deployment\n") {
			if err := yaml.Unmarshal([]byte(d), &dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if kinds["Ingress"] != 0 || kinds["PersistentVolumeClaim"] != 1 || kinds["Service"] != 1 || kinds["Role"] != 0 || kinds["ServiceAccount"] != 1 {
		t.Errorf("rendered kinds = %v", kinds)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	switch {
	case c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz":
		t.Error("no /healthz liveness probe")
	case c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz":
		t.Error("no /readyz readiness probe")
	case c.SecurityContext == nil || !*c.SecurityContext.ReadOnlyRootFilesystem || *c.SecurityContext.AllowPrivilegeEscalation:
		t.Error("not read-only, or may escalate")
	case len(c.SecurityContext.Capabilities.Drop) != 1 || c.SecurityContext.Capabilities.Drop[0] != "ALL" || len(c.SecurityContext.Capabilities.Add) != 7 || c.SecurityContext.Capabilities.Add[6] != "SYS_ADMIN":
		t.Errorf("capabilities %+v: want all dropped and the sandbox's seven added (SYS_ADMIN for its namespaces)", c.SecurityContext.Capabilities)
	case !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "STAGEBOT_SANDBOX_EGRESS" && strings.Contains(e.Value, "api.ionos.com") && strings.Contains(e.Value, "s3.eu-central-3.ionoscloud.com")
	}):
		t.Error("the runs' egress allowlist does not cover the IONOS API and the state backend")
	case dep.Spec.Template.Spec.AutomountServiceAccountToken == nil || *dep.Spec.Template.Spec.AutomountServiceAccountToken:
		t.Error("a service account token is mounted where a PR's Terraform could read it")
	case dep.Spec.Template.Annotations["prometheus.io/scrape"] != "true":
		t.Error("no scrape annotation")
	}
	for _, e := range c.Env {
		if e.Name == "STAGEBOT_GITHUB_WEBHOOK_SECRET" && (e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Error("the webhook secret is not read from a Secret")
		}
	}
	docs, err = RenderChart(botChart, "stagebot", "stagebot", chartValues(map[string]any{"ingress": map[string]any{"enabled": true, "host": "bot.example.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(docs, "\n")
	if !strings.Contains(all, "path: /webhooks/github") || strings.Contains(all, "path: /metrics\n            pathType") || strings.Contains(all, "path: /runs/") {
		t.Error("the ingress should expose the webhook, and only it")
	}
	// With the dashboard: its pages too, never the metrics or probes, and
	// the OAuth credentials come from the App's Secret.
	docs, err = RenderChart(botChart, "stagebot", "stagebot", chartValues(map[string]any{"ingress": map[string]any{"enabled": true, "host": "bot.example.com"}, "dashboard": map[string]any{"publicUrl": "https://bot.example.com"}}))
	if err != nil {
		t.Fatal(err)
	}
	all = strings.Join(docs, "\n")
	for _, want := range []string{"path: /runs/", "path: /queue/", "path: /oauth/callback", "name: STAGEBOT_PUBLIC_URL", "key: client-secret"} {
		if !strings.Contains(all, want) {
			t.Errorf("the chart with a dashboard lacks %q", want)
		}
	}
	ingress := all[strings.Index(all, "kind: Ingress"):]
	if strings.Contains(ingress, "path: /metrics") || strings.Contains(ingress, "path: /healthz") || strings.Contains(ingress, "path: /readyz") || strings.Contains(ingress, "path: /\n            pathType: Prefix") {
		t.Errorf("the ingress exposes more than the webhook and the dashboard:\n%s", ingress)
	}
}

// The bot's own ServiceAccount may do nothing: it writes Secrets in the
// workload cluster with the secret writer's token (terraform/cluster), even
// when it runs in that cluster, and no token is mounted into its pod.
func TestBotChartGrantsNothing(t *testing.T) {
	docs, err := RenderChart(botChart, "stagebot", "stagebot", chartValues(map[string]any{"ingress": map[string]any{"enabled": true}}))
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(docs, "\n---\n")
	for _, kind := range []string{"kind: Role", "kind: ClusterRole", "kind: RoleBinding", "kind: ClusterRoleBinding"} {
		if strings.Contains(all, kind+"\n") {
			t.Errorf("the bot's chart renders a %s", strings.TrimPrefix(kind, "kind: "))
		}
	}
	if !strings.Contains(all, "kind: ServiceAccount") || !strings.Contains(all, "automountServiceAccountToken: false") {
		t.Error("the bot's pod does not run as its own ServiceAccount with no token mounted")
	}
}

// TestBotChartInstalls creates every object the chart renders in a real API
// server, which validates each of them.
func TestBotChartInstalls(t *testing.T) {
	srv := apiServer(t)
	kc := admin(t)
	ctx := context.Background()
	srv.Namespaces(t, "stagebot-install")
	docs, err := RenderChart(botChart, "bot", "stagebot-install", chartValues(map[string]any{"ingress": map[string]any{"enabled": true}}))
	if err != nil {
		t.Fatal(err)
	}
	srv.Apply(t, "stagebot-install", docs)
	dep, err := kc.AppsV1().Deployments("stagebot-install").Get(ctx, "bot-stagebot", metav1.GetOptions{})
	if err != nil || dep.Spec.Template.Spec.ServiceAccountName != "bot-stagebot" {
		t.Fatalf("installed deployment: %v", err)
	}
}

// Plan and apply credentials come from two Secrets, mounted apart as files
// only the bot (root) reads, and named to the bot as its credentials dir.
func TestBotChartCredentials(t *testing.T) {
	docs, err := RenderChart(botChart, "stagebot", "stagebot", chartValues(map[string]any{
		"terraform": map[string]any{"planSecret": "tf-plan", "applySecret": "tf-apply"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	for _, d := range docs {
		if strings.Contains(d, "kind: Deployment") {
			if err := yaml.Unmarshal([]byte(d), &dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	mounts := map[string]string{}
	for _, m := range dep.Spec.Template.Spec.Containers[0].VolumeMounts {
		mounts[m.Name] = m.MountPath
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Secret == nil || !strings.HasPrefix(v.Name, "credentials-") {
			continue
		}
		kind := strings.TrimPrefix(v.Name, "credentials-")
		if v.Secret.SecretName != "tf-"+kind || *v.Secret.DefaultMode != 0o400 || mounts[v.Name] != "/etc/stagebot/credentials/"+kind {
			t.Errorf("%s: secret %s mode %o at %s", v.Name, v.Secret.SecretName, *v.Secret.DefaultMode, mounts[v.Name])
		}
		delete(mounts, v.Name)
	}
	if _, left := mounts["credentials-plan"]; left || len(dep.Spec.Template.Spec.Volumes) != 5 {
		t.Errorf("credential volumes: %d volumes, unmatched mounts %v", len(dep.Spec.Template.Spec.Volumes), mounts)
	}
	found := false
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		found = found || e.Name == "STAGEBOT_CREDENTIALS_DIR" && e.Value == "/etc/stagebot/credentials"
	}
	if !found {
		t.Error("STAGEBOT_CREDENTIALS_DIR is not set")
	}
}

// With PostgreSQL the chart runs the replicas asked for with no volume
// claim: the database holds the queue, the locks and the sealed plans,
// whose keys come from the database Secret.
func TestBotChartStatelessReplicas(t *testing.T) {
	docs, err := RenderChart(botChart, "stagebot", "stagebot", chartValues(map[string]any{
		"replicas": 3,
		"database": map[string]any{"existingSecret": "stagebot-db"},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var dep appsv1.Deployment
	for _, d := range docs {
		var meta struct{ Kind string }
		yaml.Unmarshal([]byte(d), &meta)
		switch meta.Kind {
		case "PersistentVolumeClaim":
			t.Error("a volume claim with a database: replicas would need ReadWriteMany")
		case "Deployment":
			if err := yaml.Unmarshal([]byte(d), &dep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 3 || dep.Spec.Strategy.Type == appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %v, strategy %q", dep.Spec.Replicas, dep.Spec.Strategy.Type)
	}
	for _, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == "data" && (v.EmptyDir == nil || v.PersistentVolumeClaim != nil) {
			t.Errorf("the data volume is not a cache: %+v", v.VolumeSource)
		}
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e
	}
	for _, name := range []string{"STAGEBOT_DATABASE_URL", "STAGEBOT_PLAN_KEYS"} {
		if e := env[name]; e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil || e.ValueFrom.SecretKeyRef.Name != "stagebot-db" {
			t.Errorf("%s is not read from the database Secret: %+v", name, e)
		}
	}
	// Without a database more than one replica is refused at install
	// (TestBotChartEveryCombination), not quietly made one.
}

// The chart as operators run it: strict lint (no warning) and a render of
// each combination of its options, with what each must and must not
// render; and a clear failure, at install, for what cannot work.
func TestBotChartEveryCombination(t *testing.T) {
	db := map[string]any{"existingSecret": "stagebot-db"}
	for name, tc := range map[string]struct {
		values  map[string]any
		want    []string
		wantNot []string
		kinds   map[string]int
	}{
		"defaults": {nil, []string{"replicas: 1", "automountServiceAccountToken: false"}, []string{"nodeSelector", "annotations:\n    eks"}, map[string]int{"PodDisruptionBudget": 0, "ServiceMonitor": 0, "NetworkPolicy": 0, "Ingress": 0}},
		"ingress with annotations and a dashboard": {map[string]any{"ingress": map[string]any{"enabled": true, "className": "traefik", "annotations": map[string]any{"nginx.ingress.kubernetes.io/proxy-body-size": "25m"}}, "dashboard": map[string]any{"publicUrl": "https://stagebot.example.com"}},
			[]string{"nginx.ingress.kubernetes.io/proxy-body-size: 25m", "ingressClassName: traefik", "path: /oauth/callback"}, nil, map[string]int{"Ingress": 1}},
		"replicas on PostgreSQL":    {map[string]any{"replicas": 3, "database": db}, []string{"replicas: 3", "maxUnavailable: 1"}, []string{"kind: PersistentVolumeClaim"}, map[string]int{"PodDisruptionBudget": 1, "PersistentVolumeClaim": 0}},
		"one replica on PostgreSQL": {map[string]any{"database": db}, nil, nil, map[string]int{"PodDisruptionBudget": 0}},
		"monitoring and network policy": {map[string]any{"serviceMonitor": map[string]any{"enabled": true}, "networkPolicy": map[string]any{"enabled": true, "monitoringNamespace": "monitoring"}},
			[]string{"kind: ServiceMonitor", "path: /metrics", "kubernetes.io/metadata.name: traefik", "kubernetes.io/metadata.name: monitoring", "port: 5432"}, nil, map[string]int{"ServiceMonitor": 1, "NetworkPolicy": 1}},
		"scheduling and identity": {map[string]any{"nodeSelector": map[string]any{"pool": "bots"}, "tolerations": []any{map[string]any{"key": "dedicated", "operator": "Exists"}}, "affinity": map[string]any{"nodeAffinity": map[string]any{}}, "priorityClassName": "high", "serviceAccount": map[string]any{"annotations": map[string]any{"eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/stagebot"}}},
			[]string{"pool: bots", "key: dedicated", "nodeAffinity", "priorityClassName: high", "eks.amazonaws.com/role-arn: arn:aws:iam::1:role/stagebot"}, nil, nil},
		"without the sandbox": {map[string]any{"sandbox": map[string]any{"mode": "none"}}, []string{"runAsNonRoot: true", "runAsUser: 10001"}, []string{"runAsUser: 0"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			values := chartValues(tc.values)
			for _, m := range lint.All(botChart, values, "stagebot", false).Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint --strict: %s", m.Error())
				}
			}
			docs, err := RenderChart(botChart, "stagebot", "stagebot", values)
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(docs, "\n---\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("renders no %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(all, w) {
					t.Errorf("renders %q", w)
				}
			}
			kinds := kindsOf(docs)
			for kind, n := range tc.kinds {
				if kinds[kind] != n {
					t.Errorf("%d %s, want %d", kinds[kind], kind, n)
				}
			}
		})
	}
	for name, tc := range map[string]struct {
		values map[string]any
		want   string
	}{
		"replicas without a database": {map[string]any{"replicas": 2}, "replicas > 1 needs database.existingSecret"},
		"a misspelt key":              {map[string]any{"ingres": map[string]any{"enabled": true}}, "additional properties 'ingres' not allowed"},
		"an unknown sandbox mode":     {map[string]any{"sandbox": map[string]any{"mode": "rootless"}}, "sandbox/mode"},
		"zero workers":                {map[string]any{"workers": 0}, "workers"},
	} {
		if _, err := RenderChart(botChart, "stagebot", "stagebot", chartValues(tc.values)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}
