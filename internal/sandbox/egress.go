package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// rule is one entry of an egress allowlist: a host, or every host under a
// domain ("*.example.com"), at one port (443 unless given).
type rule struct {
	host     string
	wildcard bool
	port     int
}

// ParseEgress checks an egress allowlist: entries "host", "host:port",
// "*.domain" or "*.domain:port"; a port-less entry means 443. A loopback
// host (127.0.0.1, ::1, localhost) needs its port: the run reaches it at
// the same port of its own loopback.
func ParseEgress(entries []string) ([]rule, error) {
	var rules []rule
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		if e == "" {
			continue
		}
		host, port, hasPort := e, 443, false
		if h, p, err := net.SplitHostPort(e); err == nil {
			n, err := strconv.Atoi(p)
			if err != nil || n < 1 || n > 65535 {
				return nil, fmt.Errorf("egress %q: the port must be 1-65535", e)
			}
			host, port, hasPort = h, n, true
		} else if strings.Count(e, ":") == 1 {
			return nil, fmt.Errorf("egress %q: want host, host:port, *.domain or *.domain:port", e)
		}
		r := rule{host: strings.TrimSuffix(host, "."), port: port}
		if rest, ok := strings.CutPrefix(r.host, "*."); ok {
			r.host, r.wildcard = rest, true
		}
		if r.host == "" || strings.ContainsAny(r.host, "*/ ") {
			return nil, fmt.Errorf("egress %q: want host, host:port, *.domain or *.domain:port", e)
		}
		if loopback(r.host) && !hasPort {
			return nil, fmt.Errorf("egress %q: a loopback host needs its port", e)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// allows reports whether a rule lets a run reach host:port.
func (r rule) allows(host string, port int) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if port != r.port {
		return false
	}
	if r.wildcard {
		return strings.HasSuffix(host, "."+r.host)
	}
	return host == r.host || r.host == "localhost" && loopback(host)
}

// proxy is a lease's way out: an HTTP proxy on a Unix socket that the
// run's init relays to. It tunnels (CONNECT) or forwards (plain HTTP) to
// the hosts its rules allow, and writes each refusal into the run's log.
type proxy struct {
	socket  string
	port    int
	forward []int
	rules   []rule
	ln      net.Listener
	srv     *http.Server
	mu      sync.Mutex
	log     io.Writer
}

// proxyPort is where a run finds its proxy, unless a forwarded port is
// there.
const proxyPort = 3128

func startProxy(socket string, allow []string, log io.Writer) (*proxy, error) {
	rules, err := ParseEgress(allow)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = io.Discard
	}
	p := &proxy{socket: socket, rules: rules, log: log, port: proxyPort}
	for _, r := range rules {
		if loopback(r.host) && !slices.Contains(p.forward, r.port) {
			p.forward = append(p.forward, r.port)
		}
	}
	for slices.Contains(p.forward, p.port) {
		p.port++
	}
	os.Remove(socket)
	if p.ln, err = net.Listen("unix", socket); err != nil {
		return nil, fmt.Errorf("egress proxy: %w", err)
	}
	os.Chmod(socket, 0o600)
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second}
	go p.srv.Serve(p.ln)
	return p, nil
}

func (p *proxy) close() {
	p.srv.Close()
	os.Remove(p.socket)
}

// allowed checks host:port against the rules.
func (p *proxy) allowed(target string) (string, int, bool) {
	host, ps, err := net.SplitHostPort(target)
	if err != nil {
		return target, 0, false
	}
	port, err := strconv.Atoi(ps)
	if err != nil {
		return host, 0, false
	}
	return host, port, slices.ContainsFunc(p.rules, func(r rule) bool { return r.allows(host, port) })
}

func (p *proxy) refuse(w http.ResponseWriter, target, why string) {
	p.mu.Lock()
	fmt.Fprintf(p.log, "stagebot egress: refused a connection to %s: %s\n", target, why)
	p.mu.Unlock()
	http.Error(w, "stagebot egress: "+target+": "+why, http.StatusForbidden)
}

const notListed = "not on this stage's egress allowlist (STAGEBOT_SANDBOX_EGRESS, and the stage's egress in stagebot.yaml)"

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if r.Method != http.MethodConnect {
		if r.URL.Scheme != "http" || r.URL.Host == "" {
			http.Error(w, "stagebot egress: only proxy requests", http.StatusBadRequest)
			return
		}
		target = r.URL.Host
		if _, _, err := net.SplitHostPort(target); err != nil {
			target = net.JoinHostPort(target, "80")
		}
	}
	host, _, ok := p.allowed(target)
	if !ok {
		p.refuse(w, target, notListed)
		return
	}
	dial := p.dialer(host)
	if r.Method == http.MethodConnect {
		p.tunnel(w, r, target, dial)
		return
	}
	out := r.Clone(r.Context())
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	tr := &http.Transport{DialContext: dial, ResponseHeaderTimeout: 5 * time.Minute}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(out)
	if err != nil {
		p.refuse(w, target, err.Error())
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, resp.Body)
}

// tunnel joins the run to target for CONNECT.
func (p *proxy) tunnel(w http.ResponseWriter, r *http.Request, target string, dial func(context.Context, string, string) (net.Conn, error)) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := dial(ctx, "tcp", target)
	cancel()
	if err != nil {
		p.refuse(w, target, err.Error())
		return
	}
	defer up.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "no tunnel", http.StatusInternalServerError)
		return
	}
	c, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer c.Close()
	io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		io.Copy(up, buf)
		if tc, ok := up.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
	}()
	// Once the far end is done, so is the run's side.
	io.Copy(c, up)
}

// dialer dials for a run. A name that resolves to an address inside (the
// bot's loopback, a private or shared network where the bot's own port,
// the cluster and the databases are, a cloud's metadata service) is
// refused unless the allowlist names that very address: a name whose DNS
// the PR's author steers cannot lead in.
func (p *proxy) dialer(host string) func(context.Context, string, string) (net.Conn, error) {
	d := &net.Dialer{Timeout: 30 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		h, _, err := net.SplitHostPort(address)
		if err != nil {
			return err
		}
		ip := net.ParseIP(h)
		if ip == nil || !inside(ip) {
			return nil
		}
		if literal := net.ParseIP(host); (literal != nil && literal.Equal(ip)) || host == "localhost" {
			return nil
		}
		return errors.New("resolves to " + ip.String() + ", an address inside, which only an allowlist entry of that very address opens")
	}}
	return d.DialContext
}

// insideNets are the ranges IsPrivate and its kin leave out: shared
// address space (100.64/10, Alibaba Cloud's metadata service among them)
// and IETF protocol assignments (192.0.0/24).
var insideNets = []*net.IPNet{mustCIDR("100.64.0.0/10"), mustCIDR("192.0.0.0/24")}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

// inside reports whether ip is no public address.
func inside(ip net.IP) bool {
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() || ip.IsUnspecified() || ip.IsMulticast() {
		return true
	}
	return slices.ContainsFunc(insideNets, func(n *net.IPNet) bool { return n.Contains(ip) })
}
