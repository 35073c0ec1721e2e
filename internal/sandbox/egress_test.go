package sandbox

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestEgressAllowlist runs in a network namespace whose only way out is
// the lease's proxy: a listed loopback port of the bot's host is reached
// at the same port of the run's loopback; an unlisted one is not reached
// at all; a proxy request to a host off the list is refused with 403 and
// a line in the run's log; a listed one is tunnelled.
func TestEgressAllowlist(t *testing.T) {
	s := newSandbox(t, 40980, 40981)
	if !s.features.Net {
		t.Fatalf("this host gives runs no network namespace: %v", s.features.Missing)
	}
	listed := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "state-backend-says-hi") }))
	defer listed.Close()
	unlisted := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "unlisted-says-hi") }))
	defer unlisted.Close()
	_, listedPort, _ := net.SplitHostPort(strings.TrimPrefix(listed.URL, "http://"))
	_, unlistedPort, _ := net.SplitHostPort(strings.TrimPrefix(unlisted.URL, "http://"))

	var log bytes.Buffer
	l, err := s.Acquire(context.Background(), Spec{Egress: []string{"127.0.0.1:" + listedPort}, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	get := func(port, request string) string {
		return fmt.Sprintf(`(exec 3<>/dev/tcp/127.0.0.1/%s || { echo NO-CONNECTION; exit 0; }; printf '%s' >&3; cat <&3; echo)`, port, request)
	}
	script := strings.Join([]string{
		"echo listed:", get(listedPort, `GET / HTTP/1.0\r\n\r\n`),
		"echo unlisted:", get(unlistedPort, `GET / HTTP/1.0\r\n\r\n`),
		"echo proxied-off-list:", get(fmt.Sprint(l.proxy.port), `GET http://outside.test:8080/steal HTTP/1.0\r\nHost: outside.test:8080\r\n\r\n`),
		"echo tunnelled:", get(fmt.Sprint(l.proxy.port), `CONNECT 127.0.0.1:`+listedPort+` HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.0\r\n\r\n`),
	}, "\n")
	out, err := start(t, l, "exec /bin/bash -c "+shellQuote(script))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	section := func(name string) string {
		_, rest, _ := strings.Cut(out, name+":\n")
		if i := strings.Index(rest, ":\n"); i >= 0 && strings.LastIndex(rest[:i], "\n") >= 0 {
			rest = rest[:strings.LastIndex(rest[:i], "\n")]
		}
		return rest
	}
	if got := section("listed"); !strings.Contains(got, "state-backend-says-hi") {
		t.Errorf("the listed loopback port was not reached:\n%s", out)
	}
	if got := section("unlisted"); strings.Contains(got, "unlisted-says-hi") || !strings.Contains(got, "NO-CONNECTION") {
		t.Errorf("the unlisted loopback port was reached:\n%s", out)
	}
	if got := section("proxied-off-list"); !strings.Contains(got, "403") {
		t.Errorf("the proxy did not refuse a host off the list:\n%s", out)
	}
	if !strings.Contains(log.String(), "refused a connection to outside.test:8080") {
		t.Errorf("the run's log does not name the refused connection: %q", log.String())
	}
	if got := section("tunnelled"); !strings.Contains(got, "200 Connection established") || !strings.Contains(got, "state-backend-says-hi") {
		t.Errorf("CONNECT to a listed host was not tunnelled:\n%s", out)
	}
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestParseEgress refuses what is not a host, and a loopback host without
// its port.
func TestParseEgress(t *testing.T) {
	for _, bad := range []string{"http://x.com", "*", "a b", "127.0.0.1", "localhost", "x.com:0", "x.com:http", "*.x.com/y"} {
		if _, err := ParseEgress([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	rules, err := ParseEgress([]string{"api.ionos.com", "*.ionoscloud.com:443", "127.0.0.1:8080", "localhost:9000", "[::1]:7000"})
	if err != nil {
		t.Fatal(err)
	}
	allows := func(host string, port int) bool {
		for _, r := range rules {
			if r.allows(host, port) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		host string
		port int
		want bool
	}{
		{"api.ionos.com", 443, true}, {"API.IONOS.COM.", 443, true}, {"api.ionos.com", 80, false}, {"evil-api.ionos.com", 443, false},
		{"s3.eu-central-2.ionoscloud.com", 443, true}, {"ionoscloud.com", 443, false}, {"ionoscloud.com.evil.test", 443, false},
		{"127.0.0.1", 8080, true}, {"127.0.0.1", 8081, false}, {"127.0.0.1", 9000, true}, {"::1", 7000, true},
	} {
		if got := allows(c.host, c.port); got != c.want {
			t.Errorf("%s:%d allowed %v, want %v", c.host, c.port, got, c.want)
		}
	}
}
