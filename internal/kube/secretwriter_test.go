package kube

import (
	"context"
	"fmt"
	"maps"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/stagebot/stagebot/internal/kube/kubetest"
)

const secretWriterChart = "../../charts/secret-writer"

// ourSecrets is the secrets section of this repository's stagebot.yaml, as
// terraform/cluster hands it to the secret-writer chart (yamldecode).
func ourSecrets(t *testing.T) []map[string]any {
	t.Helper()
	b, err := os.ReadFile("../../stagebot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Secrets []map[string]any `json:"secrets"`
	}
	if err := sigsyaml.Unmarshal(b, &cfg); err != nil || len(cfg.Secrets) == 0 {
		t.Fatalf("stagebot.yaml has no secrets: %v", err)
	}
	return cfg.Secrets
}

// installSecretWriter renders the chart with secrets into namespace ns and
// installs it, after the namespaces terraform/cluster makes, and returns a
// token of its ServiceAccount.
func installSecretWriter(t *testing.T, srv *kubetest.Server, ns string, secrets []map[string]any) string {
	t.Helper()
	docs, err := RenderChart(secretWriterChart, "secret-writer", ns, map[string]any{"secrets": secrets, "serviceAccount": map[string]any{"name": "stagebot-secret-writer"}})
	if err != nil {
		t.Fatal(err)
	}
	srv.Namespaces(t, append([]string{ns}, secretNamespaces(secrets)...)...)
	for _, kind := range srv.Apply(t, ns, docs) {
		if !slices.Contains([]string{"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}, kind) {
			t.Errorf("the secret-writer chart renders a %s, which is more than RBAC", kind)
		}
	}
	return srv.ServiceAccountToken(t, ns, "stagebot-secret-writer")
}

func secretNamespaces(secrets []map[string]any) []string {
	var out []string
	for _, s := range secrets {
		if ns, _ := s["namespace"].(string); !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	return out
}

// The ServiceAccount terraform/cluster makes for the bot, with the Roles
// the secret-writer chart derives from this repository's stagebot.yaml, can
// write every Secret stagebot.yaml keeps and restart its workloads, and is
// refused everything else: another Secret, another namespace, another
// workload, cluster scope.
func TestSecretWriterIsExactlyEnough(t *testing.T) {
	srv := apiServer(t)
	kc := admin(t)
	ctx := context.Background()
	secrets := ourSecrets(t)
	token := installSecretWriter(t, srv, "stagebot", secrets)

	// The workloads the secrets restart, and one more of each kind beside them.
	var restarts []string
	for _, s := range secrets {
		for _, r := range s["restart"].([]any) {
			restarts = append(restarts, s["namespace"].(string)+"/"+r.(string))
		}
	}
	if !slices.Contains(restarts, "open-webui/statefulset/open-webui") {
		t.Errorf("stagebot.yaml does not restart Open WebUI's StatefulSet when its client secret changes: %v", restarts)
	}
	tmpl, sel := deployment("x", "x").Spec.Template, deployment("x", "x").Spec.Selector
	// Each run starts from none of them (go test -count=N shares the server).
	for _, s := range secrets {
		kc.CoreV1().Secrets(s["namespace"].(string)).Delete(ctx, s["name"].(string), metav1.DeleteOptions{})
	}
	create := func(ns, kind, name string) {
		kc.AppsV1().Deployments(ns).Delete(ctx, name, metav1.DeleteOptions{})
		kc.AppsV1().StatefulSets(ns).Delete(ctx, name, metav1.DeleteOptions{})
		kc.AppsV1().DaemonSets(ns).Delete(ctx, name, metav1.DeleteOptions{})
		var err error
		switch kind {
		case "deployment":
			_, err = kc.AppsV1().Deployments(ns).Create(ctx, deployment(ns, name), metav1.CreateOptions{})
		case "statefulset":
			_, err = kc.AppsV1().StatefulSets(ns).Create(ctx, &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.StatefulSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
		case "daemonset":
			_, err = kc.AppsV1().DaemonSets(ns).Create(ctx, &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: appsv1.DaemonSetSpec{Selector: sel, Template: tmpl}}, metav1.CreateOptions{})
		}
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
	for _, r := range restarts {
		parts := strings.SplitN(r, "/", 3)
		create(parts[0], parts[1], parts[2])
	}
	for _, ns := range secretNamespaces(secrets) {
		create(ns, "deployment", "other-app")
		create(ns, "statefulset", "other-app")
		kc.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "other-secret", Namespace: ns}}, metav1.CreateOptions{})
	}
	kc.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "elsewhere"}}, metav1.CreateOptions{})
	kc.CoreV1().Secrets("elsewhere").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "authentik-env-secrets", Namespace: "elsewhere"}}, metav1.CreateOptions{})

	bot, err := Client(srv.Kubeconfig(token, false), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Every Secret of stagebot.yaml, written twice with a change between,
	// so that each restart target is rolled.
	var restarted []string
	for round := range 2 {
		for _, s := range secrets {
			spec := SecretSpec{Name: s["name"].(string), Namespace: s["namespace"].(string), Data: map[string]string{"round": fmt.Sprint(round)}}
			for _, r := range s["restart"].([]any) {
				spec.Restart = append(spec.Restart, r.(string))
			}
			res, err := Sync(ctx, bot, spec)
			if err != nil {
				t.Fatalf("round %d: sync %s/%s as the secret writer: %v", round+1, spec.Namespace, spec.Name, err)
			}
			for _, r := range res.Restarted {
				restarted = append(restarted, spec.Namespace+"/"+r)
			}
		}
	}
	slices.Sort(restarted)
	slices.Sort(restarts)
	if !slices.Equal(restarted, restarts) {
		t.Errorf("restarted %v, want %v", restarted, restarts)
	}

	patch := []byte(`{"spec":{"template":{"metadata":{"annotations":{"x":"y"}}}}}`)
	forbidden := map[string]func() error{}
	for _, ns := range secretNamespaces(secrets) {
		forbidden["read another secret in "+ns] = func() error {
			_, err := bot.CoreV1().Secrets(ns).Get(ctx, "other-secret", metav1.GetOptions{})
			return err
		}
		forbidden["list secrets in "+ns] = func() error {
			_, err := bot.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			return err
		}
		forbidden["delete a secret in "+ns] = func() error {
			return bot.CoreV1().Secrets(ns).Delete(ctx, secrets[0]["name"].(string), metav1.DeleteOptions{})
		}
		forbidden["patch another deployment in "+ns] = func() error {
			_, err := bot.AppsV1().Deployments(ns).Patch(ctx, "other-app", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		}
		forbidden["patch another statefulset in "+ns] = func() error {
			_, err := bot.AppsV1().StatefulSets(ns).Patch(ctx, "other-app", types.StrategicMergePatchType, patch, metav1.PatchOptions{})
			return err
		}
		forbidden["create a pod in "+ns] = func() error {
			_, err := bot.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
			return err
		}
		forbidden["create a role in "+ns] = func() error {
			_, err := bot.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "more"}}, metav1.CreateOptions{})
			return err
		}
	}
	for name, do := range map[string]func() error{
		"read a secret of the same name in another namespace": func() error {
			_, err := bot.CoreV1().Secrets("elsewhere").Get(ctx, "authentik-env-secrets", metav1.GetOptions{})
			return err
		},
		"create a secret in another namespace": func() error {
			_, err := bot.CoreV1().Secrets("elsewhere").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		},
		"read kube-system's secrets": func() error {
			_, err := bot.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		},
		"read another namespace": func() error {
			_, err := bot.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			return err
		},
		"list namespaces": func() error {
			_, err := bot.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			return err
		},
		"create a namespace": func() error {
			_, err := bot.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "mine"}}, metav1.CreateOptions{})
			return err
		},
		"bind itself to cluster-admin": func() error {
			_, err := bot.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "mine"}, RoleRef: rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"}, Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "stagebot-secret-writer", Namespace: "stagebot"}}}, metav1.CreateOptions{})
			return err
		},
		"mint a token for itself": func() error {
			_, err := bot.CoreV1().ServiceAccounts("stagebot").CreateToken(ctx, "stagebot-secret-writer", &authnv1.TokenRequest{}, metav1.CreateOptions{})
			return err
		},
	} {
		forbidden[name] = do
	}
	for _, name := range slices.Sorted(maps.Keys(forbidden)) {
		if err := forbidden[name](); !apierrors.IsForbidden(err) {
			t.Errorf("%s: err = %v, want forbidden", name, err)
		}
	}

	// What RBAC allows but the admission policies hold to the bot's own
	// use: a patch of a workload it restarts may only stamp the restart
	// annotation, and a Secret it creates is Opaque.
	target := strings.SplitN(restarts[0], "/", 3)
	patchAs := func(body string, opts ...string) error {
		var err error
		switch target[1] {
		case "deployment":
			_, err = bot.AppsV1().Deployments(target[0]).Patch(ctx, target[2], types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{DryRun: opts})
		case "statefulset":
			_, err = bot.AppsV1().StatefulSets(target[0]).Patch(ctx, target[2], types.StrategicMergePatchType, []byte(body), metav1.PatchOptions{DryRun: opts})
		}
		return err
	}
	secretNS, secretName := secrets[0]["namespace"].(string), secrets[0]["name"].(string)
	// The API server takes a moment to load new policies: wait until both
	// refuse, trying with dry runs that change nothing.
	deadline := time.Now().Add(30 * time.Second)
	for {
		errPatch := patchAs(`{"metadata":{"labels":{"probe":"x"}}}`, metav1.DryRunAll)
		_, errSecret := bot.CoreV1().Secrets(secretNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "probe"}, Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if apierrors.IsNotFound(errPatch) {
			t.Fatalf("%s: %v", restarts[0], errPatch)
		}
		if errPatch != nil && errSecret != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the secret writer's admission policies never took effect")
		}
		time.Sleep(100 * time.Millisecond)
	}
	denied := map[string]func() error{
		"replace the image of " + restarts[0]: func() error {
			return patchAs(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"attacker.example/pwn"}]}}}}`)
		},
		"mount a host path into " + restarts[0]: func() error {
			return patchAs(`{"spec":{"template":{"spec":{"volumes":[{"name":"root","hostPath":{"path":"/"}}]}}}}`)
		},
		"run " + restarts[0] + " as another ServiceAccount": func() error {
			return patchAs(`{"spec":{"template":{"spec":{"serviceAccountName":"default"}}}}`)
		},
		"relabel the pods of " + restarts[0]: func() error {
			return patchAs(`{"spec":{"template":{"metadata":{"labels":{"tier":"exposed"}}}}}`)
		},
		"set another pod annotation on " + restarts[0]: func() error {
			return patchAs(`{"spec":{"template":{"metadata":{"annotations":{"sidecar.example/inject":"true"}}}}}`)
		},
		"scale " + restarts[0] + " to zero": func() error {
			return patchAs(`{"spec":{"replicas":0}}`)
		},
		"add a finalizer to " + restarts[0]: func() error {
			return patchAs(`{"metadata":{"finalizers":["stuck.example/forever"]}}`)
		},
		"pause the rollouts of " + restarts[0]: func() error {
			return patchAs(`{"spec":{"paused":true}}`)
		},
		"wipe the rollout history of " + restarts[0]: func() error {
			return patchAs(`{"spec":{"revisionHistoryLimit":0}}`)
		},
		"give the pods of " + restarts[0] + " a finalizer": func() error {
			return patchAs(`{"spec":{"template":{"metadata":{"finalizers":["stuck.example/forever"]}}}}`)
		},
		"create a Secret stagebot.yaml does not name": func() error {
			_, err := bot.CoreV1().Secrets(secretNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "squatted"}}, metav1.CreateOptions{})
			return err
		},
		"make its own Secret immutable": func() error {
			_, err := bot.CoreV1().Secrets(secrets[1]["namespace"].(string)).Patch(ctx, secrets[1]["name"].(string), types.MergePatchType, []byte(`{"immutable":true}`), metav1.PatchOptions{})
			return err
		},
		"label its own Secret for another controller": func() error {
			_, err := bot.CoreV1().Secrets(secrets[1]["namespace"].(string)).Patch(ctx, secrets[1]["name"].(string), types.MergePatchType, []byte(`{"metadata":{"labels":{"argocd.argoproj.io/secret-type":"cluster"}}}`), metav1.PatchOptions{})
			return err
		},
		"create its own Secret as a ServiceAccount token Secret": func() error {
			if err := kc.CoreV1().Secrets(secretNS).Delete(ctx, secretName, metav1.DeleteOptions{}); err != nil {
				return err
			}
			_, err := bot.CoreV1().Secrets(secretNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Annotations: map[string]string{"kubernetes.io/service-account.name": "default"}}, Type: corev1.SecretTypeServiceAccountToken}, metav1.CreateOptions{})
			return err
		},
		"name a ServiceAccount in an Opaque Secret": func() error {
			_, err := bot.CoreV1().Secrets(secretNS).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Annotations: map[string]string{"kubernetes.io/service-account.name": "default"}}}, metav1.CreateOptions{})
			return err
		},
	}
	for _, name := range slices.Sorted(maps.Keys(denied)) {
		err := denied[name]()
		if !(apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) || !strings.Contains(err.Error(), "ValidatingAdmissionPolicy") {
			t.Errorf("%s: err = %v, want refused by the secret writer's admission policy", name, err)
		}
	}
	// And the restart itself still passes.
	if err := patchAs(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:"again"}}}}}`, RolloutAnnotation)); err != nil {
		t.Errorf("restart as the secret writer: %v", err)
	}
}

// The restart policies name every field of each workload's spec but its
// pod template, so that a field a later API version adds is not left for
// the writer to change: this fails when client-go's types have one the
// chart does not.
func TestSecretWriterPoliciesCoverEverySpecField(t *testing.T) {
	docs, err := RenderChart(secretWriterChart, "secret-writer", "stagebot", map[string]any{"secrets": []any{map[string]any{"name": "s", "namespace": "n"}}})
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Join(docs, "\n")
	for resource, spec := range map[string]any{"deployments": appsv1.DeploymentSpec{}, "statefulsets": appsv1.StatefulSetSpec{}, "daemonsets": appsv1.DaemonSetSpec{}} {
		i := strings.Index(all, "name: stagebot-secret-writer-restarts-"+resource)
		if i < 0 {
			t.Fatalf("no restart policy for %s", resource)
		}
		policy := all[i:]
		policy = policy[:strings.Index(policy, "kind: ValidatingAdmissionPolicyBinding")]
		typ := reflect.TypeOf(spec)
		for f := range typ.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name != "template" && !strings.Contains(policy, "object.spec."+name+")") {
				t.Errorf("the %s policy leaves spec.%s to the writer", resource, name)
			}
		}
	}
}

// A restart target the chart does not know, or a Secret in Kubernetes' own
// namespaces, is refused when the chart renders, before anything reaches
// the cluster (the cluster stage reads a PR's stagebot.yaml).
func TestSecretWriterRefusesWhatItShouldNotGrant(t *testing.T) {
	for want, secret := range map[string]map[string]any{
		`restart "cronjob/backup"`:       {"name": "s", "namespace": "n", "restart": []any{"cronjob/backup"}},
		`secret namespace "kube-system"`: {"name": "s", "namespace": "kube-system"},
	} {
		if _, err := RenderChart(secretWriterChart, "secret-writer", "stagebot", map[string]any{"secrets": []any{secret}}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rendered %v: %v", secret, err)
		}
	}
}
