// Command loadtest sends signed webhook deliveries to a running bot on
// loopback and reports latency percentiles and throughput. It is bounded by
// a request count and a time limit, and stops by itself.
//
//	go run ./tools/loadtest -url http://127.0.0.1:8080/webhooks/github -secret S -kind queued
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stagebot/stagebot/internal/github/webhook"
)

func main() {
	target := flag.String("url", "http://127.0.0.1:8080/webhooks/github", "webhook URL (loopback only)")
	secret := flag.String("secret", "", "webhook secret")
	kind := flag.String("kind", "ignored", "ignored: PR comments that are not commands; queued: pull_request synchronize events")
	n := flag.Int("n", 20000, "requests to send")
	c := flag.Int("c", 8, "concurrent senders")
	limit := flag.Duration("max-time", 60*time.Second, "stop after this long")
	rate := flag.Float64("rate", 0, "requests per second to offer (open loop; latency counts from each request's scheduled time); 0 sends as fast as the bot answers")
	action := flag.String("action", "synchronize", "pull_request action of queued payloads (closed makes the jobs cheap: no GitHub call)")
	padding := flag.Int("pr-body-bytes", 20<<10, "size of the PR description in queued payloads")
	flag.Parse()
	if err := loopbackOnly(*target); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(2)
	}
	// Payloads and signatures are made before the clock starts, so the
	// sender spends its CPU on sending (it shares the machine with the bot).
	type payload struct {
		event     string
		body      []byte
		signature string
	}
	// Queued deliveries are each their own body: the bot refuses a body
	// it accepted before as a replay.
	run := time.Now().UnixNano() // this run's bodies are none of an earlier run's
	count := 200
	if *kind == "queued" {
		count = min(*n, 20000)
	}
	payloads := make([]payload, count)
	for i := range payloads {
		p := payload{event: "issue_comment", body: []byte(commentPayload)}
		if *kind == "queued" {
			p = payload{event: "pull_request", body: prPayload(i, *padding, *action, run)}
		}
		p.signature = webhook.Sign([]byte(*secret), p.body)
		payloads[i] = p
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *c, MaxConnsPerHost: *c}, Timeout: 10 * time.Second}
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr sync.Once
	fail := func(format string, args ...any) {
		errs.Add(1)
		firstErr.Do(func() { fmt.Fprintf(os.Stderr, "loadtest: first failure: "+format+"\n", args...) })
	}
	lat := make([][]time.Duration, *c)
	deadline := time.Now().Add(*limit)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > *n || time.Now().After(deadline) {
					return
				}
				t0 := time.Now()
				if *rate > 0 {
					// Open loop: request i is due at start + i/rate, whether or
					// not earlier ones were answered; waiting counts as latency.
					t0 = start.Add(time.Duration(float64(i-1) / *rate * float64(time.Second)))
					time.Sleep(time.Until(t0))
				}
				p := payloads[i%len(payloads)]
				req, _ := http.NewRequest(http.MethodPost, *target, bytes.NewReader(p.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-GitHub-Event", p.event)
				// Each request is a new delivery, so each is stored.
				req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("load-%d-%d", start.UnixNano(), i))
				req.Header.Set("X-Hub-Signature-256", p.signature)
				resp, err := client.Do(req)
				if err != nil {
					fail("%v", err)
					continue
				}
				respBody, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				d := time.Since(t0)
				want := http.StatusOK
				if *kind == "queued" {
					want = http.StatusAccepted
				}
				if resp.StatusCode != want {
					fail("status %d: %s", resp.StatusCode, respBody)
					continue
				}
				lat[w] = append(lat[w], d)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		fmt.Fprintln(os.Stderr, "loadtest: no successful request")
		os.Exit(1)
	}
	pct := func(p float64) time.Duration { return all[min(len(all)-1, int(float64(len(all))*p))] }
	fmt.Printf("kind=%s requests=%d errors=%d concurrency=%d offered=%.0f/s elapsed=%s\n", *kind, len(all), errs.Load(), *c, *rate, elapsed.Round(time.Millisecond))
	fmt.Printf("throughput=%.0f req/s p50=%s p99=%s max=%s\n", float64(len(all))/elapsed.Seconds(),
		pct(0.50).Round(10*time.Microsecond), pct(0.99).Round(10*time.Microsecond), all[len(all)-1].Round(10*time.Microsecond))
	if errs.Load() > 0 {
		os.Exit(1)
	}
}

// loopbackOnly refuses any target that is not on this machine.
func loopbackOnly(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("target %q is not a loopback address", host)
}

const repoJSON = `"repository":{"id":1,"name":"platform","full_name":"acme/platform","owner":{"login":"acme","type":"Organization"},"default_branch":"main","private":true},"installation":{"id":1001}`

const commentPayload = `{"action":"created","issue":{"number":7,"title":"Add tenant","state":"open","pull_request":{"url":"https://api.github.com/repos/acme/platform/pulls/7"}},` +
	`"comment":{"id":123456,"body":"Looks good to me, thanks!","user":{"login":"bob","type":"User"},"author_association":"MEMBER"},` +
	repoJSON + `,"sender":{"login":"bob","type":"User"}}`

func prPayload(i, padding int, action string, run int64) []byte {
	desc := strings.Repeat("Adds a tenant and bumps the chart. ", padding/35+1)[:padding]
	return []byte(fmt.Sprintf(`{"action":%q,"number":%d,"pull_request":{"number":%d,"state":"open","title":"Change %d of run %d","body":%q,`+
		`"user":{"login":"alice","type":"User"},"draft":false,"merged":false,`+
		`"head":{"ref":"change-%d","sha":"%040x","repo":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"}}},`+
		`"base":{"ref":"main","sha":"%040x","repo":{"name":"platform","full_name":"acme/platform","owner":{"login":"acme"}}}},`+
		repoJSON+`,"sender":{"login":"alice","type":"User"}}`, action, i%500+1, i%500+1, i, run, desc, i, i, i+1))
}
