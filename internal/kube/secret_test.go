package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/stagebot/stagebot/internal/kube/kubetest"
)

// One API server for the package's tests (it takes seconds to start).
var server *kubetest.Server

func apiServer(t *testing.T) *kubetest.Server {
	if server == nil {
		t.Fatal("the API server did not start")
	}
	return server
}

func TestMain(m *testing.M) {
	var err error
	server, err = kubetest.Launch()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	server.Stop()
	os.Exit(code)
}

func admin(t *testing.T) kubernetes.Interface {
	kc, err := Client(apiServer(t).Kubeconfig(kubetest.AdminToken, false), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

func spec(ns string) SecretSpec {
	return SecretSpec{
		Name: "authentik-env-secrets", Namespace: ns,
		Data: map[string]string{
			"AUTHENTIK_POSTGRESQL__HOST": "pg.internal", "AUTHENTIK_POSTGRESQL__PORT": "5432",
			"AUTHENTIK_POSTGRESQL__NAME": "authentik", "AUTHENTIK_POSTGRESQL__USER": "authentik",
			"AUTHENTIK_POSTGRESQL__PASSWORD": "first-password",
		},
		Generate: map[string]string{"AUTHENTIK_SECRET_KEY": "hex32"},
		Restart:  []string{"deployment/authentik-server", "deployment/authentik-worker"},
	}
}

func deployment(ns, name string) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "ghcr.io/goauthentik/server:2025.12"}}},
			},
		},
	}
}

// syncRuns numbers the runs of a test in one process (go test -count=N
// shares one API server), so that each starts with no namespace.
var syncRuns atomic.Int32

func TestSyncKeepsTheKeyAndRollsOnChange(t *testing.T) {
	kc := admin(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sync-test-%d", syncRuns.Add(1))
	s := spec(ns)

	// First write: the namespace and the secret are created.
	res, err := Sync(ctx, kc, s)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Created || !res.NamespaceCreated || len(res.Changed) != 6 {
		t.Fatalf("first sync = %+v", res)
	}
	sec, _ := kc.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
	key := string(sec.Data["AUTHENTIK_SECRET_KEY"])
	if len(key) != 64 || strings.Trim(key, "0123456789abcdef") != "" {
		t.Fatalf("AUTHENTIK_SECRET_KEY = %q, want 64 hex characters", key)
	}
	for _, d := range []string{"authentik-server", "authentik-worker"} {
		if _, err := kc.AppsV1().Deployments(ns).Create(ctx, deployment(ns, d), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	// Second run: nothing changes, nothing is written, the key is kept.
	rv := sec.ResourceVersion
	res, err = Sync(ctx, kc, s)
	if err != nil || len(res.Changed) != 0 || len(res.Restarted) != 0 {
		t.Fatalf("second sync = %+v, %v", res, err)
	}
	sec, _ = kc.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
	if sec.ResourceVersion != rv || string(sec.Data["AUTHENTIK_SECRET_KEY"]) != key {
		t.Fatal("an unchanged sync wrote the secret or changed the key")
	}

	// The DB password changes: that key is updated, the key kept, and both
	// Deployments rolled.
	s.Data["AUTHENTIK_POSTGRESQL__PASSWORD"] = "second-password"
	res, err = Sync(ctx, kc, s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Changed, ",") != "AUTHENTIK_POSTGRESQL__PASSWORD" || len(res.Restarted) != 2 {
		t.Fatalf("password change = %+v", res)
	}
	sec, _ = kc.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
	if string(sec.Data["AUTHENTIK_SECRET_KEY"]) != key || string(sec.Data["AUTHENTIK_POSTGRESQL__PASSWORD"]) != "second-password" {
		t.Fatal("password change lost the key or the password")
	}
	for _, d := range []string{"authentik-server", "authentik-worker"} {
		dep, _ := kc.AppsV1().Deployments(ns).Get(ctx, d, metav1.GetOptions{})
		if dep.Spec.Template.Annotations[RolloutAnnotation] != sec.ResourceVersion {
			t.Errorf("%s not rolled: annotations %v", d, dep.Spec.Template.Annotations)
		}
	}
	if sum := res.Summary(s); strings.Contains(sum, "second-password") || !strings.Contains(sum, "AUTHENTIK_POSTGRESQL__PASSWORD") {
		t.Errorf("summary %q", sum)
	}

	// Rotation happens only when asked for.
	s.Rotate = []string{"AUTHENTIK_SECRET_KEY"}
	if res, err = Sync(ctx, kc, s); err != nil || strings.Join(res.Changed, ",") != "AUTHENTIK_SECRET_KEY" {
		t.Fatalf("rotate = %+v, %v", res, err)
	}
}

// Open WebUI runs as a StatefulSet and agents often as DaemonSets: a changed
// Secret restarts them as it does Deployments, and only the ones named.
func TestSyncRestartsStatefulSetsAndDaemonSets(t *testing.T) {
	kc := admin(t)
	ctx := context.Background()
	ns := fmt.Sprintf("sync-kinds-%d", syncRuns.Add(1))
	s := SecretSpec{Name: "openwebui-oidc", Namespace: ns, Data: map[string]string{"client-secret": "first"},
		Restart: []string{"statefulset/open-webui", "daemonset/agent", "statefulset/not-deployed-yet"}}
	if _, err := Sync(ctx, kc, s); err != nil {
		t.Fatal(err)
	}
	tmpl := deployment(ns, "x").Spec.Template
	sel := deployment(ns, "x").Spec.Selector
	for _, name := range []string{"open-webui", "other"} {
		ss := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}
		if _, err := kc.AppsV1().StatefulSets(ns).Create(ctx, ss, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: ns}, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}
	if _, err := kc.AppsV1().DaemonSets(ns).Create(ctx, ds, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	s.Data["client-secret"] = "second"
	res, err := Sync(ctx, kc, s)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(res.Restarted, ","); got != "statefulset/open-webui,daemonset/agent" {
		t.Errorf("restarted %q, want the StatefulSet and the DaemonSet that exist", got)
	}
	sec, _ := kc.CoreV1().Secrets(ns).Get(ctx, s.Name, metav1.GetOptions{})
	ow, _ := kc.AppsV1().StatefulSets(ns).Get(ctx, "open-webui", metav1.GetOptions{})
	agent, _ := kc.AppsV1().DaemonSets(ns).Get(ctx, "agent", metav1.GetOptions{})
	other, _ := kc.AppsV1().StatefulSets(ns).Get(ctx, "other", metav1.GetOptions{})
	if ow.Spec.Template.Annotations[RolloutAnnotation] != sec.ResourceVersion || agent.Spec.Template.Annotations[RolloutAnnotation] != sec.ResourceVersion {
		t.Errorf("not rolled to the Secret's version %s: statefulset %v, daemonset %v", sec.ResourceVersion, ow.Spec.Template.Annotations, agent.Spec.Template.Annotations)
	}
	if _, ok := other.Spec.Template.Annotations[RolloutAnnotation]; ok {
		t.Error("a StatefulSet the Secret does not name was restarted")
	}
	if sum := res.Summary(s); !strings.Contains(sum, "Restarted `statefulset/open-webui`, `daemonset/agent`") {
		t.Errorf("summary %q does not name what was restarted", sum)
	}
}

func TestSyncRetriesOnConflict(t *testing.T) {
	kc := admin(t)
	ctx := context.Background()
	s := spec("conflict-test")
	if _, err := Sync(ctx, kc, s); err != nil {
		t.Fatal(err)
	}
	// Writers racing on the same Secret: each sync ends with its value
	// and no update is lost to a stale resourceVersion.
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 10 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			mine := s
			mine.Data = map[string]string{"AUTHENTIK_POSTGRESQL__PASSWORD": "p" + string(rune('a'+i))}
			if _, err := Sync(ctx, kc, mine); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			sec, err := kc.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
			if err != nil {
				errs <- err
				return
			}
			sec.Labels["touched"] = "yes"
			kc.CoreV1().Secrets(s.Namespace).Update(ctx, sec, metav1.UpdateOptions{})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("concurrent sync: %v", err)
	}
}

func TestKubeconfigFormats(t *testing.T) {
	srv := apiServer(t)
	for _, json := range []bool{false, true} {
		kc, err := Client(srv.Kubeconfig(kubetest.AdminToken, json), 10*time.Second)
		if err != nil {
			t.Fatalf("json=%v: %v", json, err)
		}
		if _, err := kc.CoreV1().Namespaces().Get(context.Background(), "default", metav1.GetOptions{}); err != nil {
			t.Errorf("json=%v: %v", json, err)
		}
	}
	bad := []byte("apiVersion: v1\nclusters: [[[\nusers:\n- user:\n    token: SUPERSECRET-TOKEN\n")
	_, err := Client(bad, time.Second)
	if !errors.Is(err, ErrKubeconfig) || strings.Contains(err.Error(), "SUPERSECRET") {
		t.Errorf("malformed kubeconfig: %v", err)
	}
}

// A kubeconfig is a stage's output, which a repository's code computes: one
// that would run a command in the bot, read one of its files, go through a
// proxy or impersonate someone is refused before any request, and the
// refusal names the field, not its value.
func TestKubeconfigThatReachesOutsideItselfIsRefused(t *testing.T) {
	srv := apiServer(t)
	dir := t.TempDir()
	ran := filepath.Join(dir, "ran")
	secretFile := filepath.Join(dir, "app-key.pem")
	os.WriteFile(secretFile, []byte("BOT-PRIVATE-KEY-CONTENT"), 0o600)
	cluster := fmt.Sprintf("clusters:\n- name: c\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\n", srv.URL)
	ctxs := "contexts:\n- name: c\n  context:\n    cluster: c\n    user: u\ncurrent-context: c\n"
	for name, user := range map[string]string{
		"exec":          fmt.Sprintf("exec:\n        apiVersion: client.authentication.k8s.io/v1\n        command: sh\n        args: [-c, 'touch %s; echo {}']\n        interactiveMode: Never\n", ran),
		"token file":    "tokenFile: " + secretFile + "\n",
		"client cert":   "client-certificate: " + secretFile + "\n      client-key: " + secretFile + "\n",
		"auth provider": "auth-provider:\n        name: oidc\n        config: {idp-issuer-url: https://127.0.0.1:1}\n",
		"impersonation": "token: " + kubetest.AdminToken + "\n      as: system:admin\n",
	} {
		kubeconfig := "apiVersion: v1\nkind: Config\n" + cluster + "users:\n- name: u\n  user:\n      " + user + ctxs
		kc, err := Client([]byte(kubeconfig), 5*time.Second)
		if err == nil {
			_, err = Sync(context.Background(), kc, spec(fmt.Sprintf("outside-%d", syncRuns.Add(1))))
			t.Errorf("%s: accepted (sync: %v)", name, err)
			continue
		}
		if !errors.Is(err, ErrKubeconfig) || strings.Contains(err.Error(), secretFile) || strings.Contains(err.Error(), kubetest.AdminToken) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, c := range map[string]string{
		"certificate-authority file": fmt.Sprintf("clusters:\n- name: c\n  cluster:\n    server: %s\n    certificate-authority: %s\n", srv.URL, secretFile),
		"proxy":                      fmt.Sprintf("clusters:\n- name: c\n  cluster:\n    server: %s\n    proxy-url: http://127.0.0.1:1\n    insecure-skip-tls-verify: true\n", srv.URL),
	} {
		kubeconfig := "apiVersion: v1\nkind: Config\n" + c + "users:\n- name: u\n  user:\n    token: " + kubetest.AdminToken + "\n" + ctxs
		if _, err := Client([]byte(kubeconfig), 5*time.Second); !errors.Is(err, ErrKubeconfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("the kubeconfig's command ran in the bot")
	}
}

func TestUnreachableAPIServer(t *testing.T) {
	cfg := []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster:\n    server: https://127.0.0.1:1\nusers:\n- name: u\n  user:\n    token: SUPERSECRET-TOKEN\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\ncurrent-context: c\n")
	kc, err := Client(cfg, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Sync(context.Background(), kc, spec("x"))
	if err == nil || time.Since(start) > 20*time.Second || strings.Contains(err.Error(), "SUPERSECRET") || strings.Contains(err.Error(), "first-password") {
		t.Fatalf("unreachable: %v after %s", err, time.Since(start))
	}
}
