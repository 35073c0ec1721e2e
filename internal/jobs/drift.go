package jobs

import "github.com/stagebot/stagebot/internal/github/webhook"

// DriftJob checks a repository's stages for drift: changes made outside
// pull requests. Its DeliveryID is its key: the schedule's time for a
// scheduled check.
type DriftJob struct {
	DeliveryID     string       `json:"delivery_id" river:"unique"`
	Repo           webhook.Repo `json:"repo"`
	InstallationID int64        `json:"installation_id"`
}

// Kind is River's job kind.
func (DriftJob) Kind() string { return "drift" }

// Delivery returns the job's key.
func (j DriftJob) Delivery() string { return j.DeliveryID }

// LogAttrs are the attributes every log line of the job carries.
func (j DriftJob) LogAttrs() []any { return []any{"delivery", j.DeliveryID, "repo", j.Repo.FullName()} }

// RepoName is the repository's owner/name.
func (j DriftJob) RepoName() string { return j.Repo.FullName() }

// DriftTickJob is River's periodic job that starts the drift checks that
// are due.
type DriftTickJob struct{}

// Kind is River's job kind.
func (DriftTickJob) Kind() string { return "drift_tick" }

// Delivery returns the job's key: it has none.
func (DriftTickJob) Delivery() string { return "" }

// LogAttrs are the attributes every log line of the job carries.
func (DriftTickJob) LogAttrs() []any { return nil }

// RepoName is empty: the tick serves every repository.
func (DriftTickJob) RepoName() string { return "" }

// MaintenanceJob is River's periodic job that keeps the data dir within
// its bounds (retention, git packing) and measures it.
type MaintenanceJob struct{}

// Kind is River's job kind.
func (MaintenanceJob) Kind() string { return "maintenance" }

// Delivery returns the job's key: it has none.
func (MaintenanceJob) Delivery() string { return "" }

// LogAttrs are the attributes every log line of the job carries.
func (MaintenanceJob) LogAttrs() []any { return nil }

// RepoName is empty: maintenance serves every repository.
func (MaintenanceJob) RepoName() string { return "" }
