// Package kubetest runs a real kube-apiserver with etcd for tests, both
// built from Go modules by scripts/test (tools/kube-apiserver) into
// STAGEBOT_TEST_KUBE_BIN_DIR.
package kubetest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// AdminToken authenticates as a cluster admin (group system:masters).
const AdminToken = "stagebot-test-admin-token"

// Server is a running kube-apiserver.
type Server struct {
	URL   string
	dir   string
	procs []*exec.Cmd
}

// Token is a user the server knows by a static token.
type Token struct {
	Token, User string
	Groups      []string
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Start starts etcd and kube-apiserver and waits until the API server is
// ready. Extra tokens become users (without groups, RBAC grants them
// nothing). It fails the test when the binaries are missing.
func Start(t testing.TB, extra ...Token) *Server {
	t.Helper()
	s, err := Launch(extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch is Start for a server shared by many tests (from TestMain); the
// caller stops it.
func Launch(extra ...Token) (s *Server, err error) {
	bin := os.Getenv("STAGEBOT_TEST_KUBE_BIN_DIR")
	if bin == "" {
		return nil, errors.New("STAGEBOT_TEST_KUBE_BIN_DIR is not set: run the tests with scripts/test, which builds kube-apiserver and etcd")
	}
	dir, err := os.MkdirTemp("", "kubetest")
	if err != nil {
		return nil, err
	}
	s = &Server{dir: dir}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()

	etcdPort, peerPort, apiPort := freePort(), freePort(), freePort()
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	if err := s.start(filepath.Join(bin, "etcd"), "etcd",
		"--name=default", "--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=error"); err != nil {
		return nil, err
	}

	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	keyFile := filepath.Join(dir, "sa.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600)
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	pubFile := filepath.Join(dir, "sa.pub")
	os.WriteFile(pubFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600)
	tokens := []string{fmt.Sprintf("%s,admin,admin-uid,\"system:masters\"", AdminToken)}
	for i, tk := range extra {
		line := fmt.Sprintf("%s,%s,uid-%d", tk.Token, tk.User, i)
		if len(tk.Groups) > 0 {
			line += fmt.Sprintf(",\"%s\"", strings.Join(tk.Groups, ","))
		}
		tokens = append(tokens, line)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	os.WriteFile(tokenFile, []byte(strings.Join(tokens, "\n")+"\n"), 0o600)

	s.URL = fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	if err := s.start(filepath.Join(bin, "kube-apiserver"), "kube-apiserver",
		"--etcd-servers="+etcdURL,
		fmt.Sprintf("--secure-port=%d", apiPort), "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--cert-dir="+filepath.Join(dir, "certs"),
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+pubFile, "--service-account-signing-key-file="+keyFile,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--endpoint-reconciler-type=none",
		"--enable-priority-and-fairness=false",
		"--v=0"); err != nil {
		return nil, err
	}
	return s, s.waitReady()
}

func (s *Server) start(path, name string, args ...string) error {
	cmd := exec.Command(path, args...)
	logf, err := os.Create(filepath.Join(s.dir, name+".log"))
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	s.procs = append(s.procs, cmd)
	return nil
}

func (s *Server) waitReady() error {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest("GET", s.URL+"/readyz", nil)
		req.Header.Set("Authorization", "Bearer "+AdminToken)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(s.dir, "kube-apiserver.log"))
	return fmt.Errorf("kube-apiserver not ready in 90s:\n%s", tail(string(log), 3000))
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// Stop ends the processes and removes their data.
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.procs[i].Process.Kill()
		s.procs[i].Wait()
	}
	s.procs = nil
	os.RemoveAll(s.dir)
}

// Kubeconfig returns a kubeconfig for token, as YAML or (json) as IONOS
// returns it.
func (s *Server) Kubeconfig(token string, json bool) []byte {
	if json {
		return []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Config","clusters":[{"name":"test","cluster":{"server":%q,"insecure-skip-tls-verify":true}}],"users":[{"name":"u","user":{"token":%q}}],"contexts":[{"name":"c","context":{"cluster":"test","user":"u"}}],"current-context":"c"}`, s.URL, token))
	}
	return []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: %s\n    insecure-skip-tls-verify: true\nusers:\n- name: u\n  user:\n    token: %s\ncontexts:\n- name: c\n  context:\n    cluster: test\n    user: u\ncurrent-context: c\n", s.URL, token))
}
