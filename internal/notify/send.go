package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/logging"
	"github.com/stagebot/stagebot/internal/redact"
)

// SendTimeout bounds one delivery: a target slower than this is retried.
const SendTimeout = 10 * time.Second

// maxResponse is how much of a target's answer is read (and dropped), so
// the connection can be reused.
const maxResponse = 64 << 10

// Sender delivers queued events to their targets.
type Sender struct {
	targets map[string]Target
	// secrets are the bot's; private are the targets' own URLs and
	// secrets, kept out of any error the sender returns.
	secrets, private *redact.Set
	client           *http.Client
}

// NewSender returns the sender to cfg's targets. Every event is redacted
// again with secrets (read at each send) before it leaves.
func NewSender(cfg *Config, secrets *redact.Set) *Sender {
	s := &Sender{targets: map[string]Target{}, secrets: secrets, private: redact.New()}
	s.private.AddCredentials(cfg.Secrets()...)
	if cfg != nil {
		for _, t := range cfg.Targets {
			s.targets[t.Name] = t
		}
	}
	s.client = &http.Client{
		Timeout: SendTimeout,
		// A redirect is not followed (it could lead the body and its
		// signature elsewhere): a 3xx is a failed delivery.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return s
}

// Send delivers ev to the target named target: nil when it answered 2xx,
// an error (so the queue tries again later) for any other answer or none.
// It logs the target and the status, never the URL, body or secret.
func (s *Sender) Send(ctx context.Context, target string, ev Event) error {
	t, ok := s.targets[target]
	if !ok {
		// Another replica's file, or one changed since the event was
		// queued: a replica that has the target may still send it.
		return fmt.Errorf("notify %s: no such target in this bot's notifications file", target)
	}
	ev = ev.Redacted(s.secrets).Redacted(s.private)
	body, header, err := request(t, ev)
	if err != nil {
		return fmt.Errorf("notify %s: %w", t.Name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, SendTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: invalid request", t.Name)
	}
	req.Header = header
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("notify %s: %s", t.Name, s.private.Redact(transportError(err)))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponse))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The queue logs the error, with the job's target and event.
		return fmt.Errorf("notify %s: answered %d", t.Name, resp.StatusCode)
	}
	// The job's logger names the target and the event.
	logging.From(ctx).Info("notification delivered", "status", resp.StatusCode)
	return nil
}

// transportError is err without the URL that net/http puts in it.
func transportError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// request is the body and header of ev's delivery to t.
func request(t Target, ev Event) ([]byte, http.Header, error) {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "stagebot-notify")
	switch t.Type {
	case Slack:
		body, err := json.Marshal(struct {
			Text string `json:"text"`
		}{SlackText(ev)})
		return body, h, err
	case Webhook:
		body, err := json.Marshal(ev)
		if err != nil {
			return nil, nil, err
		}
		h.Set("X-Stagebot-Event", string(ev.Kind))
		h.Set("X-Stagebot-Delivery", ev.ID)
		// sha256= and the hex HMAC-SHA256 of the exact body with the
		// target's secret, as GitHub signs its webhooks.
		h.Set("X-Stagebot-Signature-256", webhook.Sign([]byte(t.Secret), body))
		return body, h, nil
	}
	return nil, nil, fmt.Errorf("unknown target type %q", t.Type)
}

// phrases say what happened, with a stage (%[1]s) and without; %[2]s is
// the repository and PR.
var phrases = map[Kind][2]string{
	ApplySucceeded:  {"%[1]s applied on %[2]s", "applied on %[2]s"},
	ApplyFailed:     {"%[1]s failed to apply on %[2]s", "apply failed on %[2]s"},
	DriftFound:      {"drift found in %[1]s of %[2]s", "drift found in %[2]s"},
	DriftGone:       {"drift gone from %[1]s of %[2]s", "drift gone from %[2]s"},
	PolicyDenied:    {"policy denied %[1]s on %[2]s", "policy denied %[2]s"},
	MergeWaiting:    {"%[1]s waits to apply the merge of %[2]s", "the merge of %[2]s waits to apply"},
	MergeSuperseded: {"%[1]s: the merge of %[2]s was superseded by a newer one", "the merge of %[2]s was superseded by a newer one"},
}

// slackEscaper escapes what Slack reads as markup in text.
var slackEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackText is ev as one line of a Slack message: "*stage* applied on
// org/repo#12 by @x (commit abc1234): summary — url".
func SlackText(ev Event) string {
	esc := slackEscaper.Replace
	p, ok := phrases[ev.Kind]
	if !ok {
		p = [2]string{string(ev.Kind) + " of %[1]s on %[2]s", string(ev.Kind) + " on %[2]s"}
	}
	var b strings.Builder
	if ev.Stage != "" {
		fmt.Fprintf(&b, p[0], "*"+esc(ev.Stage)+"*", esc(ev.where()))
	} else {
		fmt.Fprintf(&b, p[1], "", esc(ev.where()))
	}
	if ev.Actor != "" {
		b.WriteString(" by @" + esc(ev.Actor))
	}
	if c := ev.Commit; c != "" {
		b.WriteString(" (commit " + esc(c[:min(len(c), 7)]) + ")")
	}
	if s := strings.TrimSpace(ev.Summary); s != "" {
		b.WriteString(": " + esc(s))
	}
	if ev.URL != "" {
		b.WriteString(" — " + esc(ev.URL))
	}
	return b.String()
}
