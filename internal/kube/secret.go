// Package kube is the bot's side of Kubernetes: the Secret it keeps in sync
// from stage outputs (written with client-go), and the rollout that makes
// pods read it again.
package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/retry"
)

// ManagedBy labels what the bot writes.
const ManagedBy = "stagebot"

// RolloutAnnotation is set on a workload's pod template to restart its pods
// when the Secret changes (env vars from a Secret are read at start).
const RolloutAnnotation = "stagebot.io/secret-version"

// SecretSpec is a Secret to keep in sync.
type SecretSpec struct {
	Name      string
	Namespace string
	// Data are keys with values from stage outputs.
	Data map[string]string
	// Generate are keys the bot makes itself ("hex32": 32 random bytes,
	// hex), once: an existing value is kept.
	Generate map[string]string
	// Rotate names generated keys to make anew (an explicit request).
	Rotate []string
	// Restart names workloads to roll when the Secret changed:
	// "deployment/NAME", "statefulset/NAME" or "daemonset/NAME".
	Restart []string
}

// SyncResult says what Sync did, naming keys, never values.
type SyncResult struct {
	Created          bool
	NamespaceCreated bool
	// Changed are the keys whose values changed (or were added).
	Changed []string
	// Restarted are the workloads rolled.
	Restarted []string

	// data is the Secret's content after the sync: for Value, never for
	// a log or comment.
	data map[string][]byte
}

// Value is a key's value in the Secret after the sync, so another Secret
// can hold the same value (a client secret both sides of an OAuth login
// read). It is a secret: never log or render it.
func (r SyncResult) Value(key string) (string, bool) {
	v, ok := r.data[key]
	return string(v), ok
}

// Summary is a line for the platform stage's comment.
func (r SyncResult) Summary(spec SecretSpec) string {
	name := "`" + spec.Namespace + "/" + spec.Name + "`"
	switch {
	case r.Created:
		return fmt.Sprintf("Secret %s created with keys `%s`.", name, strings.Join(r.Changed, "`, `"))
	case len(r.Changed) == 0:
		return fmt.Sprintf("Secret %s is up to date.", name)
	}
	s := fmt.Sprintf("Secret %s: updated keys `%s`.", name, strings.Join(r.Changed, "`, `"))
	if len(r.Restarted) > 0 {
		s += fmt.Sprintf(" Restarted `%s` so they read it.", strings.Join(r.Restarted, "`, `"))
	}
	return s
}

// ErrKubeconfig is a kubeconfig that cannot be used. Its message never
// includes the kubeconfig's content.
var ErrKubeconfig = errors.New("kubeconfig is not valid")

// Client builds a client from a kubeconfig as a Terraform output holds it:
// YAML, or JSON as IONOS returns it. Requests time out after timeout.
func Client(kubeconfig []byte, timeout time.Duration) (kubernetes.Interface, error) {
	cfg, err := clientcmd.Load(kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("%w: it is neither YAML nor JSON of a kubeconfig", ErrKubeconfig)
	}
	if err := selfContained(cfg); err != nil {
		return nil, err
	}
	rest, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: it names no usable cluster, user and context", ErrKubeconfig)
	}
	rest.Timeout = timeout
	// The bot makes a handful of requests per apply; client-go's default
	// of 5 per second would only add waiting.
	rest.QPS, rest.Burst = 50, 100
	cs, err := kubernetes.NewForConfig(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrKubeconfig, "the client cannot be built from it")
	}
	return cs, nil
}

// selfContained refuses a kubeconfig that would make the bot do more than
// talk to an API server with what the kubeconfig carries: it is a stage's
// output, computed by a repository's code, and the bot uses it outside any
// sandbox. A command to run (exec, auth-provider), a file of the bot's to
// read (token, certificate or key files), a proxy or impersonation is
// refused, naming the field, never its value.
func selfContained(cfg *clientcmdapi.Config) error {
	for _, c := range cfg.Clusters {
		switch {
		case c.CertificateAuthority != "":
			return fmt.Errorf("%w: certificate-authority names a file; give certificate-authority-data", ErrKubeconfig)
		case c.ProxyURL != "":
			return fmt.Errorf("%w: it names a proxy-url", ErrKubeconfig)
		}
	}
	for _, a := range cfg.AuthInfos {
		switch {
		case a.Exec != nil:
			return fmt.Errorf("%w: it runs a command (exec)", ErrKubeconfig)
		case a.AuthProvider != nil:
			return fmt.Errorf("%w: it uses an auth-provider plugin", ErrKubeconfig)
		case a.TokenFile != "", a.ClientCertificate != "", a.ClientKey != "":
			return fmt.Errorf("%w: it names a token, certificate or key file; give the data itself", ErrKubeconfig)
		case a.Impersonate != "", a.ImpersonateUID != "", len(a.ImpersonateGroups) > 0, len(a.ImpersonateUserExtra) > 0:
			return fmt.Errorf("%w: it impersonates another user", ErrKubeconfig)
		}
	}
	return nil
}

// conflictBackoff retries a write that lost a race on resourceVersion,
// long enough for a handful of concurrent writers.
var conflictBackoff = wait.Backoff{Steps: 12, Duration: 20 * time.Millisecond, Factor: 1.5, Jitter: 0.5, Cap: 2 * time.Second}

// Sync creates or updates the Secret: output values are written, generated
// keys are made once and then kept (unless named in Rotate), and nothing is
// written when nothing changed. Writes use the Secret's resourceVersion and
// are retried on conflict. When the Secret changed, the Deployments to
// restart that exist are rolled.
func Sync(ctx context.Context, kc kubernetes.Interface, spec SecretSpec) (SyncResult, error) {
	var res SyncResult
	created, err := ensureNamespace(ctx, kc, spec.Namespace)
	if err != nil {
		return res, err
	}
	res.NamespaceCreated = created
	var version string
	err = retry.RetryOnConflict(conflictBackoff, func() error {
		res.Created, res.Changed = false, nil
		cur, err := kc.CoreV1().Secrets(spec.Namespace).Get(ctx, spec.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			data, err := desired(spec, nil)
			if err != nil {
				return err
			}
			s := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Namespace: spec.Namespace, Labels: map[string]string{"app.kubernetes.io/managed-by": ManagedBy}},
				Type:       corev1.SecretTypeOpaque,
				Data:       data,
			}
			out, err := kc.CoreV1().Secrets(spec.Namespace).Create(ctx, s, metav1.CreateOptions{})
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(corev1.Resource("secrets"), spec.Name, err) // someone was faster: read it again
			}
			if err != nil {
				return err
			}
			res.Created, res.Changed, version, res.data = true, slices.Sorted(maps.Keys(data)), out.ResourceVersion, data
			return nil
		case err != nil:
			return err
		}
		data, err := desired(spec, cur.Data)
		if err != nil {
			return err
		}
		for k, v := range data {
			if string(cur.Data[k]) != string(v) {
				res.Changed = append(res.Changed, k)
			}
		}
		slices.Sort(res.Changed)
		next := cur.DeepCopy()
		if next.Data == nil {
			next.Data = map[string][]byte{}
		}
		maps.Copy(next.Data, data)
		res.data = next.Data
		if len(res.Changed) == 0 {
			return nil
		}
		out, err := kc.CoreV1().Secrets(spec.Namespace).Update(ctx, next, metav1.UpdateOptions{}) // carries cur's resourceVersion
		if err != nil {
			return err
		}
		version = out.ResourceVersion
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("sync secret %s/%s: %s", spec.Namespace, spec.Name, reason(err))
	}
	if len(res.Changed) == 0 || res.Created {
		return res, nil
	}
	for _, target := range spec.Restart {
		restarted, err := restart(ctx, kc, spec.Namespace, target, version)
		if err != nil {
			return res, err
		}
		if restarted {
			res.Restarted = append(res.Restarted, target)
		}
	}
	return res, nil
}

// restart rolls a workload's pods by stamping the Secret's version on its
// pod template; a workload not deployed yet is left alone (it reads the
// Secret when it starts).
func restart(ctx context.Context, kc kubernetes.Interface, ns, target, version string) (bool, error) {
	kind, name, _ := strings.Cut(target, "/")
	patch := []byte(fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:%q}}}}}`, RolloutAnnotation, version))
	var err error
	switch kind {
	case "deployment":
		_, err = kc.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	case "statefulset":
		_, err = kc.AppsV1().StatefulSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	case "daemonset":
		_, err = kc.AppsV1().DaemonSets(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	default:
		return false, fmt.Errorf("restart %s: not a deployment, statefulset or daemonset", target)
	}
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("restart %s %s/%s: %s", kind, ns, name, reason(err))
	}
	return true, nil
}

func ensureNamespace(ctx context.Context, kc kubernetes.Interface, name string) (bool, error) {
	_, err := kc.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err == nil {
		return false, nil
	}
	if !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("read namespace %s: %s", name, reason(err))
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/managed-by": ManagedBy}}}
	if _, err := kc.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return false, fmt.Errorf("create namespace %s: %s", name, reason(err))
	}
	return true, nil
}

// desired is the Secret's data: the output values, and the generated keys
// (kept from current unless missing or rotated).
func desired(spec SecretSpec, current map[string][]byte) (map[string][]byte, error) {
	data := map[string][]byte{}
	for k, v := range spec.Data {
		data[k] = []byte(v)
	}
	for k, gen := range spec.Generate {
		if v, ok := current[k]; ok && len(v) > 0 && !slices.Contains(spec.Rotate, k) {
			data[k] = v
			continue
		}
		if gen != "hex32" {
			return nil, fmt.Errorf("unknown generator %q for key %s", gen, k)
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		data[k] = []byte(hex.EncodeToString(b))
	}
	return data, nil
}

// reason describes an API error without echoing request content: the
// status reason and code, or a network failure.
func reason(err error) string {
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		st := se.Status()
		return fmt.Sprintf("%s (%d)", st.Reason, st.Code)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "the API server did not answer in time"
	}
	return "the API server is unreachable: " + err.Error()
}
