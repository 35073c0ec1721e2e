package kubetest

import (
	"bytes"
	"context"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

// Admin is a client of the server as a cluster admin.
func (s *Server) Admin(t testing.TB) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(s.Kubeconfig(AdminToken, false))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return kc
}

// Namespaces creates namespaces as terraform/cluster does before it installs
// anything into them; ones that exist are left alone.
func (s *Server) Namespaces(t testing.TB, names ...string) {
	t.Helper()
	kc := s.Admin(t)
	for _, n := range names {
		_, err := kc.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
	}
}

// Apply creates YAML documents of any kind, as Helm would create what a
// chart rendered; objects without a namespace go to namespace when they are
// namespaced. It returns the kinds it created.
func (s *Server) Apply(t testing.TB, namespace string, docs []string) []string {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(s.Kubeconfig(AdminToken, false))
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(disc))
	var kinds []string
	for _, d := range docs {
		if len(bytes.TrimSpace([]byte(d))) == 0 {
			continue
		}
		var obj unstructured.Unstructured
		if err := yaml.Unmarshal([]byte(d), &obj.Object); err != nil || obj.Object == nil {
			t.Fatalf("decode %q: %v", d, err)
		}
		gvk := obj.GroupVersionKind()
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			t.Fatalf("%s: %v", gvk, err)
		}
		var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
		if m.Scope.Name() == "namespace" {
			ns := obj.GetNamespace()
			if ns == "" {
				ns = namespace
			}
			ri = dyn.Resource(m.Resource).Namespace(ns)
		}
		if _, err := ri.Create(context.Background(), &obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Errorf("create %s %s: %v", gvk.Kind, obj.GetName(), err)
		}
		kinds = append(kinds, gvk.Kind)
	}
	return kinds
}

// ServiceAccountToken is a token of a ServiceAccount from the TokenRequest
// API, as the cluster's token controller would put in its token Secret.
func (s *Server) ServiceAccountToken(t testing.TB, namespace, name string) string {
	t.Helper()
	tr, err := s.Admin(t).CoreV1().ServiceAccounts(namespace).CreateToken(context.Background(), name, &authnv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return tr.Status.Token
}
