package main

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// cutProxy stands between the bots and PostgreSQL: Cut drops every
// connection and refuses new ones, as a stopped server does; Restore
// listens again at the same address, as the server started again.
type cutProxy struct {
	target, addr string
	mu           sync.Mutex
	l            net.Listener
	conns        map[net.Conn]bool
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{target: target, addr: l.Addr().String(), l: l, conns: map[net.Conn]bool{}}
	go p.serve(l)
	t.Cleanup(p.Cut)
	return p
}

func (p *cutProxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(c net.Conn) {
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[u] = true, true
	p.mu.Unlock()
	go func() { io.Copy(u, c); u.Close() }()
	io.Copy(c, u)
	c.Close()
}

func (p *cutProxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.l.Close()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *cutProxy) Restore(t *testing.T) {
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatalf("the database's address is taken: %v", err)
	}
	p.mu.Lock()
	p.l = l
	p.mu.Unlock()
	go p.serve(l)
}

// The database goes away right after Terraform has applied (three replicas
// on one PostgreSQL): restarted (a second), and stopped for 30 s. The PR
// says "applied" with the outputs, the stage's check run completes, the
// resource was made once (its provisioner ran once), no comment says the
// apply was interrupted, and the stage is free for the next PR.
func TestApplyRecordedThroughADatabaseOutage(t *testing.T) {
	f, bots, proxy, state := replicasBehindProxy(t, "3m")
	gh, repo, base := f.gh, f.repo, f.base
	ran := filepath.Join(t.TempDir(), "provisioner-ran")

	for i, outage := range []struct {
		name string
		down time.Duration
	}{{"a restart", time.Second}, {"a 30 s stop", 30 * time.Second}} {
		number := i + 1
		name := fmt.Sprint("marker", number)
		// The resource's provisioner tells the test that Terraform is at
		// its end: the database goes as Terraform finishes.
		change := provisioned(name, ran)
		head := f.pr(number, "main", change, base, 1)
		f.stageComment(number, "infrastructure", "to add")
		before := countLines(ran)
		f.say(number, "alice", "/apply")
		eventually(t, 60*time.Second, "the apply's provisioner", func() bool { return countLines(ran) > before })
		proxy.Cut()
		time.Sleep(outage.down)
		proxy.Restore(t)
		back := time.Now()

		body := f.stageComment(number, "infrastructure", "✅ stagebot applied `infrastructure`")
		t.Logf("%s: the PR said applied %.1f s after the database came back", outage.name, time.Since(back).Seconds())
		if !strings.Contains(body, "cluster_name") {
			t.Errorf("%s: the applied comment lacks the outputs:\n%s", outage.name, body)
		}
		check := f.completedOn("infrastructure", head, func(c string) bool { return c == "success" })
		if check.Title != "Applied" {
			t.Errorf("%s: check run %q: %s", outage.name, check.Title, check.Summary)
		}
		if n := countLines(ran) - before; n != 1 || !stateHas(t, state, name) {
			t.Errorf("%s: the provisioner ran %d times; in the state: %v", outage.name, n, stateHas(t, state, name))
		}
		for _, c := range gh.BotComments(repo, number) {
			if strings.Contains(c.Body, "interrupted") {
				t.Errorf("%s: a comment says the apply was interrupted:\n%s", outage.name, c.Body)
			}
		}
		// The stage is free for the next PR once this one closes.
		f.gh.UpdatePull(repo, number, func(p *githubtest.Pull) { p.State = "closed" })
		f.deliver("pull_request", gh.PullRequestPayload(repo, number, "closed", 0))
		base = gh.Commit(repo, "main", "", change, "merged by hand")
		f.base = base
	}
	if n, _ := countIn(bots, `"msg":"recorded after the database came back"`); n == 0 {
		t.Error("no bot logged a record written after the outage: the outage did not meet the bookkeeping")
	}
}

// replicasBehindProxy is three replicas on one PostgreSQL that they reach
// through a cutProxy, serving the quickstart (its state in state).
func replicasBehindProxy(t *testing.T, jobTimeout string) (*prFlow, []*bot, *cutProxy, string) {
	db := dbtest.FreshPostgres(t)
	u, err := url.Parse(db)
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.addr
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	state := t.TempDir()
	base := gh.Commit(repo, "main", "", stateIn(quickstartTree(t), state), "quickstart")
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "carol", "maintain")
	var bots []*bot
	for range 3 {
		env := append(autoplanEnv(gh, t.TempDir()), "STAGEBOT_DATABASE_URL="+u.String(), "STAGEBOT_PLAN_KEYS="+key, "STAGEBOT_TAKEOVER=5s", "STAGEBOT_JOB_TIMEOUT="+jobTimeout)
		bots = append(bots, startBot(t, env))
	}
	return &prFlow{t: t, gh: gh, repo: repo, base: base, bot: bots[0]}, bots, proxy, state
}

// provisioned is a resource whose provisioner appends its name to ran,
// then takes two seconds: when the line is there, Terraform is at its end.
func provisioned(name, ran string) map[string]string {
	return map[string]string{"terraform/infrastructure/" + name + ".tf": fmt.Sprintf(
		"resource \"terraform_data\" %q {\n  provisioner \"local-exec\" {\n    command = \"echo %s >> %s; sleep 2\"\n  }\n}\n", name, name, ran)}
}

// A replica killed (-9) after Terraform applied and before it could record
// so (the database was away): the replica that takes the job over finds the
// stage's state to be what the commit asks for, and the PR says applied,
// with the outputs, not interrupted; the check run completes; Terraform
// applied once. (No provisioner: where one runs, a cut-off apply looks
// finished, and the bot says interrupted, as TestKill9DuringApplyOnMerge
// shows.)
func TestApplyFinishedBeforeACrashIsReportedApplied(t *testing.T) {
	// A short job timeout: the job of the replica that dies is taken over
	// after it and the takeover time.
	f, bots, proxy, state := replicasBehindProxy(t, "40s")
	head := f.pr(1, "main", map[string]string{"terraform/infrastructure/many.tf": "resource \"terraform_data\" \"many\" {\n  count = 1500\n  input = count.index\n}\n"}, f.base, 1)
	f.stageComment(1, "infrastructure", "to add")
	f.say(1, "alice", "/apply")
	// The database goes once Terraform is creating: it needs none of it.
	eventually(t, 60*time.Second, "the apply's Terraform creating", func() bool {
		for _, b := range bots {
			logs, _ := filepath.Glob(filepath.Join(b.dataDir(), "logs", "*", "pr-1", "infrastructure-*-apply-*.log"))
			for _, l := range logs {
				if body, _ := os.ReadFile(l); strings.Contains(string(body), "Creation complete") {
					return true
				}
			}
		}
		return false
	})
	proxy.Cut()
	eventually(t, 60*time.Second, "Terraform to finish the apply", func() bool {
		return strings.Count(readFile(filepath.Join(state, "infrastructure.tfstate")), `"index_key": `) == 1500
	})
	time.Sleep(3 * time.Second) // the record waits for the database
	_, appliers := countIn(bots, `"msg":"applying"`, `"stage":"infrastructure"`)
	if len(appliers) != 1 {
		t.Fatalf("applying replicas: %v", appliers)
	}
	bots[appliers[0]].kill9()
	proxy.Restore(t)
	back := time.Now()
	for i := range bots {
		if i != appliers[0] {
			f.bot = bots[i]
		}
	}
	body := f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	t.Logf("the PR said applied %.1f s after the database came back and the replica died", time.Since(back).Seconds())
	if !strings.Contains(body, "stopped right after Terraform applied") || !strings.Contains(body, "cluster_name") {
		t.Errorf("the applied comment does not say what happened, or lacks the outputs:\n%s", body)
	}
	check := f.completedOn("infrastructure", head, anyConclusion)
	if check.Conclusion != "success" || check.Title != "Applied" {
		t.Errorf("check run: %s %q: %s", check.Conclusion, check.Title, check.Summary)
	}
	if n, _ := countIn(bots, `"msg":"applying"`, `"stage":"infrastructure"`); n != 1 {
		t.Errorf("Terraform applied %d times", n)
	}
	for _, c := range f.gh.BotComments(f.repo, 1) {
		if strings.Contains(c.Body, "interrupted") {
			t.Errorf("a comment says the apply was interrupted:\n%s", c.Body)
		}
	}
}

func readFile(p string) string {
	b, _ := os.ReadFile(p)
	return string(b)
}

func countLines(path string) int { return strings.Count(readFile(path), "\n") }
