// Package webhook verifies GitHub's webhook deliveries and decodes the events
// the bot acts on. It depends on nothing but the standard library, which
// keeps the webhook path (and its fuzzer) lean.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// MaxPayloadBytes is GitHub's cap on a webhook payload (25 MB); GitHub does
// not deliver larger ones, so anything larger is not from GitHub.
const MaxPayloadBytes = 25 << 20

// ErrBadSignature is returned when X-Hub-Signature-256 is missing or does not
// match the body.
var ErrBadSignature = errors.New("missing or invalid X-Hub-Signature-256")

// VerifySignature checks GitHub's HMAC-SHA256 signature header
// ("sha256=<hex>") of body in constant time.
func VerifySignature(secret []byte, header string, body []byte) error {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}

// WellFormedSignature reports whether header could be a signature at all
// (sha256= and 64 hex digits): one that cannot is refused before the body
// is read.
func WellFormedSignature(header string) bool {
	hexSig, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSig) != 2*sha256.Size {
		return false
	}
	_, err := hex.DecodeString(hexSig)
	return err == nil
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Repo identifies a repository as the rest of the bot needs it.
type Repo struct {
	Owner         string `json:"owner"`
	Name          string `json:"name"`
	DefaultBranch string `json:"default_branch,omitempty"`
	Private       bool   `json:"private,omitempty"`
}

// FullName is "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// ParseRepo makes a Repo of "owner/name" and its default branch.
func ParseRepo(fullName, defaultBranch string) (Repo, error) {
	owner, name, ok := strings.Cut(fullName, "/")
	if !ok || owner == "" || name == "" || strings.Contains(name, "/") {
		return Repo{}, fmt.Errorf("%q is not owner/name", fullName)
	}
	return Repo{Owner: owner, Name: name, DefaultBranch: defaultBranch}, nil
}

// PullRequestEvent is the part of a pull_request delivery the bot acts on.
type PullRequestEvent struct {
	InstallationID int64  `json:"installation_id"`
	Repo           Repo   `json:"repo"`
	Action         string `json:"action"`
	Number         int    `json:"number"`
	Author         string `json:"author"`
	Sender         string `json:"sender"`
	HeadSHA        string `json:"head_sha"`
	HeadRef        string `json:"head_ref"`
	BaseSHA        string `json:"base_sha"`
	BaseRef        string `json:"base_ref"`
	Draft          bool   `json:"draft,omitempty"`
	Merged         bool   `json:"merged,omitempty"`
	MergeCommitSHA string `json:"merge_commit_sha,omitempty"`
	// Fork is true when the head branch lives in another repository: its
	// code is not trusted with the bot's credentials.
	Fork bool `json:"fork,omitempty"`
	// Label is the label added or removed (actions labeled, unlabeled).
	Label string `json:"label,omitempty"`
}

// CommentEvent is a created comment on a pull request.
type CommentEvent struct {
	InstallationID int64  `json:"installation_id"`
	Repo           Repo   `json:"repo"`
	Number         int    `json:"number"`
	CommentID      int64  `json:"comment_id"`
	Author         string `json:"author"`
	// IsIssue says the comment is on an issue, not a pull request.
	IsIssue bool `json:"is_issue,omitempty"`
	// Body is only the comment's first line: commands live there, and
	// nothing else of the comment is needed (or kept).
	Body string `json:"body"`
}

// PushEvent is a push to a branch.
type PushEvent struct {
	InstallationID int64  `json:"installation_id"`
	Repo           Repo   `json:"repo"`
	Ref            string `json:"ref"`
	Before         string `json:"before"`
	After          string `json:"after"`
	Sender         string `json:"sender"`
	// Commits are the SHAs the push brought (GitHub lists up to 2,048),
	// with After.
	Commits []string `json:"commits,omitempty"`
}

// CheckRunEvent is a user asking to re-run one of the bot's check runs.
type CheckRunEvent struct {
	InstallationID int64  `json:"installation_id"`
	Repo           Repo   `json:"repo"`
	Action         string `json:"action"`
	CheckRunID     int64  `json:"check_run_id"`
	Name           string `json:"name"`
	HeadSHA        string `json:"head_sha"`
	PullRequests   []int  `json:"pull_requests,omitempty"`
	Sender         string `json:"sender"`
	// Identifier is the button pressed (action requested_action).
	Identifier string `json:"identifier,omitempty"`
}

// The wire shapes below hold only the fields the bot reads; decoding into
// them instead of full API types keeps the webhook path cheap.
type wireUser struct {
	Login string `json:"login"`
	Type  string `json:"type"`
}

type wireRepo struct {
	Name          string   `json:"name"`
	FullName      string   `json:"full_name"`
	Owner         wireUser `json:"owner"`
	DefaultBranch string   `json:"default_branch"`
	Private       bool     `json:"private"`
}

func (w wireRepo) repo() Repo {
	return Repo{Owner: w.Owner.Login, Name: w.Name, DefaultBranch: w.DefaultBranch, Private: w.Private}
}

type wireCommon struct {
	Action       string              `json:"action"`
	Installation *struct{ ID int64 } `json:"installation"`
	Repository   *wireRepo           `json:"repository"`
	Sender       wireUser            `json:"sender"`
}

func (c wireCommon) check() error {
	if c.Installation == nil || c.Installation.ID == 0 {
		return errors.New("payload has no installation id")
	}
	if c.Repository == nil || c.Repository.Name == "" || c.Repository.Owner.Login == "" {
		return errors.New("payload has no repository")
	}
	return nil
}

type wireBranch struct {
	Ref  string    `json:"ref"`
	SHA  string    `json:"sha"`
	Repo *wireRepo `json:"repo"`
}

// DecodePullRequest decodes a pull_request payload.
func DecodePullRequest(body []byte) (PullRequestEvent, error) {
	var w struct {
		wireCommon
		Number int `json:"number"`
		Label  *struct {
			Name string `json:"name"`
		} `json:"label"`
		PullRequest *struct {
			Number         int        `json:"number"`
			User           wireUser   `json:"user"`
			Head           wireBranch `json:"head"`
			Base           wireBranch `json:"base"`
			Draft          bool       `json:"draft"`
			Merged         bool       `json:"merged"`
			MergeCommitSHA string     `json:"merge_commit_sha"`
		} `json:"pull_request"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return PullRequestEvent{}, fmt.Errorf("decode pull_request payload: %w", err)
	}
	if err := w.check(); err != nil {
		return PullRequestEvent{}, fmt.Errorf("decode pull_request payload: %w", err)
	}
	pr := w.PullRequest
	if pr == nil || pr.Number == 0 || pr.Head.SHA == "" {
		return PullRequestEvent{}, errors.New("decode pull_request payload: no pull_request number or head sha")
	}
	var label string
	if w.Label != nil {
		label = w.Label.Name
	}
	base := w.Repository.repo()
	fork := pr.Head.Repo == nil || !strings.EqualFold(pr.Head.Repo.FullName, w.Repository.FullName)
	return PullRequestEvent{
		InstallationID: w.Installation.ID,
		Repo:           base,
		Action:         w.Action,
		Number:         pr.Number,
		Author:         pr.User.Login,
		Sender:         w.Sender.Login,
		HeadSHA:        pr.Head.SHA,
		HeadRef:        pr.Head.Ref,
		BaseSHA:        pr.Base.SHA,
		BaseRef:        pr.Base.Ref,
		Draft:          pr.Draft,
		Merged:         pr.Merged,
		MergeCommitSHA: pr.MergeCommitSHA,
		Fork:           fork,
		Label:          label,
	}, nil
}

// DecodeComment decodes an issue_comment payload. isPR reports whether the
// comment is on a pull request; isBot whether a bot wrote it.
func DecodeComment(body []byte) (ev CommentEvent, action string, isPR, isBot bool, err error) {
	var w struct {
		wireCommon
		Issue *struct {
			Number      int       `json:"number"`
			PullRequest *struct{} `json:"pull_request"`
		} `json:"issue"`
		Comment *struct {
			ID   int64    `json:"id"`
			Body string   `json:"body"`
			User wireUser `json:"user"`
		} `json:"comment"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return ev, "", false, false, fmt.Errorf("decode issue_comment payload: %w", err)
	}
	if err := w.check(); err != nil {
		return ev, "", false, false, fmt.Errorf("decode issue_comment payload: %w", err)
	}
	if w.Issue == nil || w.Comment == nil || w.Issue.Number == 0 || w.Comment.ID == 0 {
		return ev, "", false, false, errors.New("decode issue_comment payload: no issue or comment")
	}
	first, _, _ := strings.Cut(w.Comment.Body, "\n")
	ev = CommentEvent{
		InstallationID: w.Installation.ID,
		Repo:           w.Repository.repo(),
		Number:         w.Issue.Number,
		CommentID:      w.Comment.ID,
		Author:         w.Comment.User.Login,
		Body:           strings.TrimRight(first, "\r"),
		IsIssue:        w.Issue.PullRequest == nil,
	}
	isBot = w.Comment.User.Type == "Bot" || strings.HasSuffix(w.Comment.User.Login, "[bot]")
	return ev, w.Action, w.Issue.PullRequest != nil, isBot, nil
}

// DecodePush decodes a push payload.
func DecodePush(body []byte) (PushEvent, error) {
	var w struct {
		wireCommon
		Ref     string `json:"ref"`
		Before  string `json:"before"`
		After   string `json:"after"`
		Commits []struct {
			ID string `json:"id"`
		} `json:"commits"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return PushEvent{}, fmt.Errorf("decode push payload: %w", err)
	}
	if err := w.check(); err != nil {
		return PushEvent{}, fmt.Errorf("decode push payload: %w", err)
	}
	if w.Ref == "" || w.After == "" {
		return PushEvent{}, errors.New("decode push payload: no ref or after")
	}
	ev := PushEvent{
		InstallationID: w.Installation.ID,
		Repo:           w.Repository.repo(),
		Ref:            w.Ref,
		Before:         w.Before,
		After:          w.After,
		Sender:         w.Sender.Login,
	}
	for _, c := range w.Commits {
		ev.Commits = append(ev.Commits, c.ID)
	}
	if !slices.Contains(ev.Commits, w.After) {
		ev.Commits = append(ev.Commits, w.After)
	}
	return ev, nil
}

// DecodeCheckRun decodes a check_run payload.
func DecodeCheckRun(body []byte) (CheckRunEvent, error) {
	var w struct {
		wireCommon
		CheckRun *struct {
			ID           int64  `json:"id"`
			Name         string `json:"name"`
			HeadSHA      string `json:"head_sha"`
			PullRequests []struct {
				Number int `json:"number"`
			} `json:"pull_requests"`
		} `json:"check_run"`
		RequestedAction *struct {
			Identifier string `json:"identifier"`
		} `json:"requested_action"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return CheckRunEvent{}, fmt.Errorf("decode check_run payload: %w", err)
	}
	if err := w.check(); err != nil {
		return CheckRunEvent{}, fmt.Errorf("decode check_run payload: %w", err)
	}
	if w.CheckRun == nil || w.CheckRun.ID == 0 {
		return CheckRunEvent{}, errors.New("decode check_run payload: no check_run")
	}
	ev := CheckRunEvent{
		InstallationID: w.Installation.ID,
		Repo:           w.Repository.repo(),
		Action:         w.Action,
		CheckRunID:     w.CheckRun.ID,
		Name:           w.CheckRun.Name,
		HeadSHA:        w.CheckRun.HeadSHA,
		Sender:         w.Sender.Login,
	}
	if w.RequestedAction != nil {
		ev.Identifier = w.RequestedAction.Identifier
	}
	for _, pr := range w.CheckRun.PullRequests {
		ev.PullRequests = append(ev.PullRequests, pr.Number)
	}
	return ev, nil
}
