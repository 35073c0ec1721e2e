// Package notify tells people outside GitHub what the bot did: an apply
// that succeeded or failed, drift, a policy's denial, a merge that waits.
// The bot's operator lists the targets (Slack incoming webhooks, signed
// generic webhooks) in a file read once at start; each event becomes one
// queued job per target, so a target that is down gets it later, once.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/stagebot/stagebot/internal/redact"
)

// Kind is what happened.
type Kind string

// The kinds of event.
const (
	ApplySucceeded  Kind = "apply_succeeded"
	ApplyFailed     Kind = "apply_failed"
	DriftFound      Kind = "drift_found"
	DriftGone       Kind = "drift_gone"
	PolicyDenied    Kind = "policy_denied"
	MergeWaiting    Kind = "merge_waiting"
	MergeSuperseded Kind = "merge_superseded"
)

// Kinds are every kind of event, in the order the README lists them.
var Kinds = []Kind{ApplySucceeded, ApplyFailed, DriftFound, DriftGone, PolicyDenied, MergeWaiting, MergeSuperseded}

// Known reports whether k is one of Kinds.
func (k Kind) Known() bool { return slices.Contains(Kinds, k) }

// maxSummary bounds an event's summary, in bytes: a notification says what
// happened and links to the rest.
const maxSummary = 2000

// Event is one thing that happened, as every target gets it (a generic
// webhook's body is its JSON).
type Event struct {
	// ID names the event: the X-Stagebot-Delivery header, and with the
	// target the queued job's unique key, so it is sent once. Empty: the
	// Notifier derives it from the other fields (see DeriveID).
	// (The river tag is what makes a re-queued event a duplicate.)
	ID   string `json:"id" river:"unique"`
	Kind Kind   `json:"kind"`
	// Repo is the repository, owner/name.
	Repo string `json:"repo"`
	// PR is the pull request's number, 0 for none (drift).
	PR     int    `json:"pr"`
	Stage  string `json:"stage"`
	Commit string `json:"commit"`
	// Actor is the GitHub login that caused it, if a person did.
	Actor string `json:"actor"`
	// Summary is one or a few lines of plain text.
	Summary string `json:"summary"`
	// URL links to what to look at: the PR, the check run, the dashboard.
	URL  string    `json:"url"`
	Time time.Time `json:"time"`
}

// DeriveID is an id for ev made of what it is about and when it happened:
// the same event derived twice gets the same id.
func DeriveID(ev Event) string {
	h := sha256.New()
	for _, f := range []string{string(ev.Kind), ev.Repo, strconv.Itoa(ev.PR), ev.Stage, ev.Commit, ev.Time.UTC().Format(time.RFC3339Nano)} {
		fmt.Fprintf(h, "%d:%s\x00", len(f), f)
	}
	return "ev-" + hex.EncodeToString(h.Sum(nil))[:32]
}

// Redacted is ev with every secret of s masked in its text fields. The
// kind and id are the bot's own words.
func (ev Event) Redacted(s *redact.Set) Event {
	for _, f := range []*string{&ev.Repo, &ev.Stage, &ev.Commit, &ev.Actor, &ev.Summary, &ev.URL} {
		*f = s.Redact(*f)
	}
	return ev
}

// bounded is ev with its summary cut to maxSummary bytes (at a rune).
func (ev Event) bounded() Event {
	if len(ev.Summary) <= maxSummary {
		return ev
	}
	cut := maxSummary
	for cut > 0 && !utf8.RuneStart(ev.Summary[cut]) {
		cut--
	}
	ev.Summary = ev.Summary[:cut] + "…"
	return ev
}

// where is the repository and PR an event is about: org/repo#12.
func (ev Event) where() string {
	if ev.PR > 0 {
		return ev.Repo + "#" + strconv.Itoa(ev.PR)
	}
	return ev.Repo
}
