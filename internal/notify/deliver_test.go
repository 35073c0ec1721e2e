package notify_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagebot/stagebot/internal/jobs"
	"github.com/stagebot/stagebot/internal/notify"
	"github.com/stagebot/stagebot/internal/queue"
	"github.com/stagebot/stagebot/internal/redact"
)

// Tokens in the targets' URLs and secrets: they must show nowhere but in
// the requests' paths.
const (
	slackToken = "T0001/B0001/sl4ckt0k3n"
	hookToken  = "h00kp4th"
	hookSecret = "s3cr3t-hm4c-k3y"
	password   = "hunter2-db-p4ssw0rd"
)

// request is one request a target received.
type request struct {
	path   string
	header http.Header
	body   []byte
	status int
}

// receiver is the notification targets: a loopback HTTP server that
// records every request and answers each path with the statuses queued for
// it, then 200.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []request
	answers map[string][]int
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{answers: map[string][]int{}}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		status := http.StatusOK
		if a := r.answers[req.URL.Path]; len(a) > 0 {
			status, r.answers[req.URL.Path] = a[0], a[1:]
		}
		r.got = append(r.got, request{path: req.URL.Path, header: req.Header.Clone(), body: body, status: status})
		r.mu.Unlock()
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "http://127.0.0.1:1/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(r.Close)
	return r
}

// answer makes path answer statuses, in order, before 200.
func (r *receiver) answer(path string, statuses ...int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.answers[path] = append(r.answers[path], statuses...)
}

// requests are what path received.
func (r *receiver) requests(path string) []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []request
	for _, g := range r.got {
		if g.path == path {
			out = append(out, g)
		}
	}
	return out
}

func (r *receiver) all() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]request(nil), r.got...)
}

// syncBuffer collects the bot's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// idle does no GitHub work: these tests queue only notifications.
type idle struct{}

func (idle) PullRequest(context.Context, jobs.PullRequestJob) error { return nil }
func (idle) Comment(context.Context, jobs.CommentJob) error         { return nil }
func (idle) Push(context.Context, jobs.PushJob) error               { return nil }
func (idle) CheckRun(context.Context, jobs.CheckRunJob) error       { return nil }
func (idle) Drift(context.Context, jobs.DriftJob) error             { return nil }
func (idle) DriftTick(context.Context, jobs.DriftTickJob) error     { return nil }
func (idle) Maintenance(context.Context, jobs.MaintenanceJob) error { return nil }

type testBundle struct {
	targets  *receiver
	queue    *queue.Queue
	notifier *notify.Notifier
	secrets  *redact.Set
	logs     *syncBuffer
}

// setup starts the bot's notification path as serve wires it: the file's
// targets (file is the notifications file, with URL for the receiver's
// address), a River queue on SQLite, the sender as its Notify, and a
// notifier that queues through Enqueue. The bot's secrets hold password.
func setup(t *testing.T, file string) *testBundle {
	t.Helper()
	tb := &testBundle{targets: newReceiver(t), secrets: redact.New(), logs: &syncBuffer{}}
	tb.secrets.AddCredentials(password)
	cfg, err := notify.Parse([]byte(strings.ReplaceAll(file, "URL", tb.targets.URL)), func(k string) (string, bool) {
		return map[string]string{"AUDIT_SECRET": hookSecret}[k], k == "AUDIT_SECRET"
	})
	if err != nil {
		t.Fatal(err)
	}
	// As serve does: the targets' URLs and secrets are the bot's secrets.
	tb.secrets.AddCredentials(cfg.Secrets()...)
	sender := notify.NewSender(cfg, tb.secrets)
	q, err := queue.Open(context.Background(), queue.Config{
		SQLitePath:      filepath.Join(t.TempDir(), "stagebot.db"),
		Workers:         1,
		JobTimeout:      time.Minute,
		Handlers:        idle{},
		Logger:          slog.New(slog.NewJSONHandler(tb.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		PollInterval:    200 * time.Millisecond,
		Notify:          func(ctx context.Context, j jobs.NotifyJob) error { return sender.Send(ctx, j.Target, j.Event) },
		NotifyRetryWait: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	tb.queue = q
	tb.notifier = notify.NewNotifier(cfg, tb.secrets, func(ctx context.Context, target string, ev notify.Event) error {
		_, _, err := q.Enqueue(ctx, jobs.NotifyJob{Target: target, Event: ev})
		return err
	})
	if err := q.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := q.Stop(ctx); err != nil {
			t.Errorf("stop queue: %v", err)
		}
		q.Close()
	})
	return tb
}

// job is a notification job as River keeps it.
type job struct {
	target, state string
	attempt       int
	errors        string
}

// jobs are the queue's notification jobs.
func (tb *testBundle) jobs(t *testing.T) []job {
	t.Helper()
	rows, err := tb.queue.DB().Query(`SELECT json_extract(args, '$.target'), state, attempt, coalesce(errors, '') FROM river_job WHERE kind = 'notify' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []job
	for rows.Next() {
		var j job
		if err := rows.Scan(&j.target, &j.state, &j.attempt, &j.errors); err != nil {
			t.Fatal(err)
		}
		out = append(out, j)
	}
	return out
}

// settled waits until every notification job is completed.
func (tb *testBundle) settled(t *testing.T) []job {
	t.Helper()
	var js []job
	waitFor(t, "notifications sent", func() bool {
		js = tb.jobs(t)
		for _, j := range js {
			if j.state != "completed" {
				return false
			}
		}
		return len(js) > 0
	})
	return js
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const auditFile = `
targets:
  - name: audit
    type: webhook
    url: URL/audit/` + hookToken + `
    secret_env: AUDIT_SECRET
`

var applied = notify.Event{
	Kind: notify.ApplySucceeded, Repo: "org/platform", PR: 12, Stage: "infrastructure",
	Commit: "abc1234def5678", Actor: "alice", Summary: "3 added, 1 changed, 0 destroyed",
	URL: "https://github.com/org/platform/pull/12", Time: time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC),
}

// (a) A webhook target gets the event's JSON, signed with its secret as
// GitHub signs its deliveries, with the event's kind and id in headers;
// the same event queued again is not sent again.
func TestWebhookDelivery(t *testing.T) {
	t.Parallel()
	tb := setup(t, auditFile)
	ctx := context.Background()
	if err := tb.notifier.Notify(ctx, applied); err != nil {
		t.Fatal(err)
	}
	// A re-run job tells the same event again: one delivery.
	if err := tb.notifier.Notify(ctx, applied); err != nil {
		t.Fatal(err)
	}
	if js := tb.settled(t); len(js) != 1 {
		t.Fatalf("jobs = %+v, want one", js)
	}
	got := tb.targets.requests("/audit/" + hookToken)
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	r := got[0]
	mac := hmac.New(sha256.New, []byte(hookSecret))
	mac.Write(r.body)
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); r.header.Get("X-Stagebot-Signature-256") != want {
		t.Errorf("signature %q, want %q", r.header.Get("X-Stagebot-Signature-256"), want)
	}
	var ev notify.Event
	if err := json.Unmarshal(r.body, &ev); err != nil {
		t.Fatalf("body is not an event: %v\n%s", err, r.body)
	}
	want := applied
	want.ID = notify.DeriveID(applied)
	if d := cmp.Diff(want, ev); d != "" {
		t.Errorf("event (-want +got):\n%s", d)
	}
	for h, want := range map[string]string{"Content-Type": "application/json", "X-Stagebot-Event": "apply_succeeded", "X-Stagebot-Delivery": want.ID} {
		if got := r.header.Get(h); got != want {
			t.Errorf("%s: %q, want %q", h, got, want)
		}
	}
	var fields map[string]any
	json.Unmarshal(r.body, &fields)
	for _, k := range []string{"id", "kind", "repo", "pr", "stage", "commit", "actor", "summary", "url", "time"} {
		if _, ok := fields[k]; !ok {
			t.Errorf("body lacks %q: %s", k, r.body)
		}
	}
}

// (b) A target that fails is tried again, with backoff, until it answers
// 2xx: then once, and never after.
func TestRetriesUntilDelivered(t *testing.T) {
	t.Parallel()
	tb := setup(t, auditFile)
	path := "/audit/" + hookToken
	tb.targets.answer(path, 500, 500)
	if err := tb.notifier.Notify(context.Background(), applied); err != nil {
		t.Fatal(err)
	}
	js := tb.settled(t)
	if len(js) != 1 || js[0].attempt != 3 {
		t.Fatalf("jobs = %+v, want one completed on its third attempt", js)
	}
	time.Sleep(200 * time.Millisecond) // time for a wrong extra try
	var statuses []int
	for _, r := range tb.targets.requests(path) {
		statuses = append(statuses, r.status)
	}
	if d := cmp.Diff([]int{500, 500, 200}, statuses); d != "" {
		t.Errorf("answers (-want +got):\n%s", d)
	}
	if !strings.Contains(js[0].errors, "answered 500") {
		t.Errorf("the job's errors do not say why it failed: %s", js[0].errors)
	}
}

const bothFile = `
targets:
  - name: ops-slack
    type: slack
    url: URL/services/` + slackToken + `
  - name: audit
    type: webhook
    url: URL/audit/` + hookToken + `
    secret_env: AUDIT_SECRET
`

// (c) A secret in an event's text never reaches a target, in any attempt;
// nor do the targets' URLs and secrets show in the log or in the queue's
// record of failures.
func TestSecretsNeverLeave(t *testing.T) {
	t.Parallel()
	tb := setup(t, bothFile)
	tb.targets.answer("/services/"+slackToken, 503)
	tb.targets.answer("/audit/"+hookToken, 500, 404)
	ev := applied
	ev.Summary = "Error: connecting to postgres://app:" + password + "@db:5432 failed"
	ev.Actor = password
	if err := tb.notifier.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	js := tb.settled(t)
	reqs := tb.targets.all()
	if len(reqs) != 5 {
		t.Errorf("%d requests, want 5 (2 to Slack, 3 to the webhook)", len(reqs))
	}
	for _, r := range reqs {
		if strings.Contains(string(r.body), password) || !strings.Contains(string(r.body), redact.Mask) {
			t.Errorf("%s got %s", r.path, r.body)
		}
	}
	var record strings.Builder
	for _, j := range js {
		record.WriteString(j.errors)
	}
	for what, text := range map[string]string{"log": tb.logs.String(), "job errors": record.String()} {
		for _, s := range []string{password, slackToken, "sl4ckt0k3n", hookToken, hookSecret} {
			if strings.Contains(text, s) {
				t.Errorf("the %s shows %q:\n%s", what, s, text)
			}
		}
	}
	if !strings.Contains(tb.logs.String(), `"target":"ops-slack"`) {
		t.Errorf("the log does not name the target:\n%s", tb.logs.String())
	}
}

// The sender redacts again, with the bot's secrets as they are when it
// sends: a value that became secret after the event was queued, or a
// notifier that missed one, does not leave either.
func TestSenderRedactsAgain(t *testing.T) {
	t.Parallel()
	tb := setup(t, auditFile)
	late := "l4te-kn0wn-s3cret"
	tb.targets.answer("/audit/"+hookToken, 500)
	ev := applied
	ev.Summary = "output token=" + late
	if err := tb.notifier.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	tb.secrets.AddCredentials(late)
	tb.settled(t)
	for _, r := range tb.targets.all() {
		// The first attempt may have left before the value was known.
		if r.status == 200 && strings.Contains(string(r.body), late) {
			t.Errorf("delivered %s", r.body)
		}
	}
}

// (d) A Slack target gets {"text": ...}: one line of plain text.
func TestSlackShape(t *testing.T) {
	t.Parallel()
	tb := setup(t, bothFile)
	if err := tb.notifier.Notify(context.Background(), applied); err != nil {
		t.Fatal(err)
	}
	tb.settled(t)
	got := tb.targets.requests("/services/" + slackToken)
	if len(got) != 1 {
		t.Fatalf("%d Slack deliveries, want 1", len(got))
	}
	var body map[string]string
	if err := json.Unmarshal(got[0].body, &body); err != nil {
		t.Fatalf("body: %v\n%s", err, got[0].body)
	}
	want := map[string]string{"text": "*infrastructure* applied on org/platform#12 by @alice (commit abc1234): 3 added, 1 changed, 0 destroyed — https://github.com/org/platform/pull/12"}
	if d := cmp.Diff(want, body); d != "" {
		t.Errorf("body (-want +got):\n%s", d)
	}
	if ct := got[0].header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if sig := got[0].header.Get("X-Stagebot-Signature-256"); sig != "" {
		t.Errorf("Slack got a signature %q", sig)
	}
}

// (e) A target gets the kinds of event it lists, of the repositories it
// lists.
func TestFilters(t *testing.T) {
	t.Parallel()
	tb := setup(t, `
targets:
  - name: everything
    type: slack
    url: URL/services/all
  - name: failures
    type: slack
    url: URL/services/failures
    events: [apply_failed, policy_denied]
  - name: org
    type: webhook
    url: URL/org
    secret: `+hookSecret+`
    repos: ["org/*"]
`)
	for _, ev := range []notify.Event{
		{Kind: notify.ApplyFailed, Repo: "org/a", Stage: "one"},
		{Kind: notify.DriftFound, Repo: "Org/B", Stage: "two"},
		{Kind: notify.PolicyDenied, Repo: "other/c", Stage: "three"},
		{Kind: notify.MergeWaiting, Repo: "other/d", Stage: "four"},
	} {
		if err := tb.notifier.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	tb.settled(t)
	got := map[string][]string{}
	for _, r := range tb.targets.all() {
		var ev struct {
			Text  string `json:"text"`
			Stage string `json:"stage"`
		}
		json.Unmarshal(r.body, &ev)
		stage := ev.Stage
		if ev.Text != "" {
			stage = strings.Split(ev.Text, "*")[1]
		}
		got[r.path] = append(got[r.path], stage)
	}
	for _, s := range got {
		slices.Sort(s)
	}
	want := map[string][]string{
		"/services/all":      {"four", "one", "three", "two"},
		"/services/failures": {"one", "three"},
		"/org":               {"one", "two"},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("deliveries (-want +got):\n%s", d)
	}
}

// A target that redirects is not followed there (the body and its
// signature would go elsewhere): the delivery failed, and is tried again.
func TestRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	elsewhere := newReceiver(t)
	tb := setup(t, auditFile)
	path := "/audit/" + hookToken
	tb.targets.answer(path, 307)
	if err := tb.notifier.Notify(context.Background(), applied); err != nil {
		t.Fatal(err)
	}
	js := tb.settled(t)
	if len(elsewhere.all()) != 0 {
		t.Error("the redirect was followed")
	}
	if n := len(tb.targets.requests(path)); n != 2 || js[0].attempt != 2 {
		t.Errorf("%d requests, attempt %d: want the 307 tried again", n, js[0].attempt)
	}
}
