package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/stagebot/stagebot/internal/command"
	"github.com/stagebot/stagebot/internal/github/webhook"
	"github.com/stagebot/stagebot/internal/jobs"
)

const (
	// bodyWait is how long a delivery waits for room in the body budget.
	bodyWait = 10 * time.Second
	// bodyDeadline is how long a body may take to arrive: 25 MB at 1 MB/s.
	bodyDeadline = 30 * time.Second
)

// webhook verifies, decodes and enqueues; it never talks to GitHub, git,
// Terraform or Kubernetes, so it answers in milliseconds.
func (s *Server) webhook(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	defer func() { s.metrics.duration.Observe(time.Since(start).Seconds()) }()

	// What an unsigned request costs is bounded before its body is read:
	// a signature that cannot be one is refused unread, the length must be
	// declared (GitHub always does) and fit GitHub's limit, bodies held at
	// once share a byte budget, and the body must arrive in time.
	if !webhook.WellFormedSignature(r.Header.Get("X-Hub-Signature-256")) {
		s.reject(w, http.StatusUnauthorized, "signature", "missing or invalid X-Hub-Signature-256")
		return
	}
	switch {
	case r.ContentLength > webhook.MaxPayloadBytes:
		s.reject(w, http.StatusRequestEntityTooLarge, "too_large", "payload larger than GitHub's 25 MB limit")
		return
	case r.ContentLength < 0:
		s.reject(w, http.StatusLengthRequired, "length_required", "Content-Length is required")
		return
	}
	wait, cancel := context.WithTimeout(r.Context(), bodyWait)
	err := s.bodies.Acquire(wait, r.ContentLength)
	cancel()
	if err != nil {
		w.Header().Set("Retry-After", "5")
		s.reject(w, http.StatusServiceUnavailable, "busy", "too many deliveries at once; redeliver it later")
		return
	}
	defer s.bodies.Release(r.ContentLength)
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(bodyDeadline))
	body := make([]byte, r.ContentLength)
	if _, err := io.ReadFull(r.Body, body); err != nil {
		s.reject(w, http.StatusBadRequest, "slow_body", "could not read the body in time")
		return
	}
	// Nothing about the request is believed before the signature is.
	if err := webhook.VerifySignature(s.secret, r.Header.Get("X-Hub-Signature-256"), body); err != nil {
		s.reject(w, http.StatusUnauthorized, "signature", "missing or invalid X-Hub-Signature-256")
		return
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		s.reject(w, http.StatusBadRequest, "content_type", "content type must be application/json: set the webhook's content type to application/json")
		return
	}
	event, delivery := r.Header.Get("X-GitHub-Event"), r.Header.Get("X-GitHub-Delivery")
	if event == "" || delivery == "" || len(delivery) > 128 {
		s.reject(w, http.StatusBadRequest, "missing_header", "X-GitHub-Event and X-GitHub-Delivery are required")
		return
	}
	job, ignored, err := decode(event, delivery, body)
	if err != nil {
		s.log.Warn("webhook rejected: malformed payload", "delivery", delivery, "event", event, "error", err.Error())
		s.reject(w, http.StatusBadRequest, "malformed", "malformed payload: "+err.Error())
		return
	}
	label := eventLabel(event)
	if job != nil && !s.allow(job.RepoName()) {
		s.metrics.deliveries.WithLabelValues(label, "not_allowed").Inc()
		s.log.Info("webhook ignored: repository not in the allowlist", "delivery", delivery, "repo", job.RepoName())
		reply(w, http.StatusOK, "ignored: repository not served by this bot (STAGEBOT_REPO_ALLOWLIST)")
		return
	}
	if job == nil {
		s.metrics.deliveries.WithLabelValues(label, "ignored").Inc()
		reply(w, http.StatusOK, "ignored: "+ignored)
		return
	}
	// The insert must finish once begun, even if GitHub hangs up.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 10*time.Second)
	defer cancel()
	if s.replayed(ctx, w, label, delivery, r.Header.Get("X-Hub-Signature-256")) {
		return
	}
	id, duplicate, err := s.queue.Enqueue(ctx, job)
	if err != nil {
		s.log.Error("webhook not queued", "delivery", delivery, "event", event, "error", err.Error())
		s.metrics.rejected.WithLabelValues("queue").Inc()
		// 503 tells GitHub's delivery log the bot did not take it; it can
		// be redelivered once the database is back.
		reply(w, http.StatusServiceUnavailable, "could not queue the delivery; redeliver it later")
		return
	}
	if duplicate {
		s.metrics.deliveries.WithLabelValues(label, "duplicate").Inc()
		reply(w, http.StatusOK, "duplicate delivery: already queued", "job", id)
		return
	}
	s.metrics.deliveries.WithLabelValues(label, "queued").Inc()
	s.log.Info("webhook queued", "delivery", delivery, "event", event, "job", id)
	reply(w, http.StatusAccepted, "queued", "job", id)
}

// replayed answers a body already accepted under another delivery id in the
// last 7 days (200, ignored), or a failure to tell (503), and reports
// whether it answered. The signature, not the delivery id, identifies the
// body: GitHub's redeliveries keep their id, and the queue dedupes those.
func (s *Server) replayed(ctx context.Context, w http.ResponseWriter, label, delivery, signature string) bool {
	if s.replays == nil {
		return false
	}
	first, err := s.replays.Accept(ctx, signatureDigest(signature), delivery, time.Now())
	switch {
	case err != nil:
		s.log.Error("webhook not queued: replay check failed", "delivery", delivery, "error", err.Error())
		s.metrics.rejected.WithLabelValues("queue").Inc()
		reply(w, http.StatusServiceUnavailable, "could not queue the delivery; redeliver it later")
		return true
	case first != delivery:
		s.metrics.replays.Inc()
		s.log.Warn("webhook replay refused: body already accepted under another delivery id", "delivery", delivery, "first_delivery", first, "event", label)
		reply(w, http.StatusOK, "ignored: this body was already accepted as another delivery")
		return true
	}
	return false
}

// signatureDigest identifies a verified signature by the SHA-256 of its
// MAC bytes: hex case cannot make a replay look new, and the stored value
// is not the signature.
func signatureDigest(header string) string {
	mac, _ := hex.DecodeString(strings.TrimPrefix(header, "sha256="))
	sum := sha256.Sum256(mac)
	return hex.EncodeToString(sum[:])
}

func (s *Server) reject(w http.ResponseWriter, status int, reason, msg string) {
	s.metrics.rejected.WithLabelValues(reason).Inc()
	reply(w, status, msg)
}

// eventLabel keeps the metric's label set bounded.
func eventLabel(event string) string {
	switch event {
	case "pull_request", "issue_comment", "push", "check_run", "ping", "installation", "installation_repositories":
		return event
	}
	return "other"
}

// pullRequestActions are the pull_request actions the workflow acts on.
var pullRequestActions = map[string]bool{
	"opened": true, "synchronize": true, "reopened": true, "ready_for_review": true, "closed": true,
	// Only the skip label matters; the workflow knows its name.
	"labeled": true, "unlabeled": true,
}

// decode turns a verified delivery into a job, or says why it is ignored.
func decode(event, delivery string, body []byte) (jobs.Job, string, error) {
	switch event {
	case "pull_request":
		ev, err := webhook.DecodePullRequest(body)
		if err != nil {
			return nil, "", err
		}
		if !pullRequestActions[ev.Action] {
			return nil, "pull_request action " + ev.Action, nil
		}
		return jobs.PullRequestJob{DeliveryID: delivery, Event: ev}, "", nil
	case "issue_comment":
		ev, action, isPR, isBot, err := webhook.DecodeComment(body)
		if err != nil {
			return nil, "", err
		}
		switch {
		case action != "created":
			return nil, "comment " + action, nil
		case isBot:
			return nil, "comment by a bot", nil
		}
		cmd, err := command.Parse(ev.Body)
		switch {
		case errors.Is(err, command.ErrNotCommand):
			return nil, "comment is not a command", nil
		case !isPR && (err != nil || cmd.Name != command.Drift):
			// On an issue, only /drift means something.
			return nil, "comment on an issue, not a pull request", nil
		}
		return jobs.CommentJob{DeliveryID: delivery, Event: ev}, "", nil
	case "push":
		ev, err := webhook.DecodePush(body)
		if err != nil {
			return nil, "", err
		}
		if !strings.HasPrefix(ev.Ref, "refs/heads/") || strings.Trim(ev.After, "0") == "" {
			return nil, "push of a tag, or a deleted branch", nil
		}
		return jobs.PushJob{DeliveryID: delivery, Event: ev}, "", nil
	case "check_run":
		ev, err := webhook.DecodeCheckRun(body)
		if err != nil {
			return nil, "", err
		}
		if (ev.Action != "rerequested" && ev.Action != "requested_action") || !strings.HasPrefix(ev.Name, "stagebot/") {
			return nil, "check_run " + ev.Action + " of " + ev.Name, nil
		}
		return jobs.CheckRunJob{DeliveryID: delivery, Event: ev}, "", nil
	}
	if !json.Valid(body) {
		return nil, "", errors.New("body is not valid JSON")
	}
	return nil, "event " + event + " is not handled", nil
}
