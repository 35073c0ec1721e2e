package store

import (
	"context"
	"fmt"
)

// pushersTable keeps who pushed to each PR, as GitHub's pull_request
// events name them (their sender): the two-person rule counts no approval
// of theirs, whatever names the commits carry.
const pushersTable = `CREATE TABLE IF NOT EXISTS stagebot_pushers (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	login TEXT NOT NULL,
	PRIMARY KEY (repo, pr, login)
)`

// branchPushersTable keeps who pushed to each branch (push events): a
// PR's head branch may have been pushed to while the PR was closed, or
// before it was opened, when no pull_request event names the pusher.
const branchPushersTable = `CREATE TABLE IF NOT EXISTS stagebot_branch_pushers (
	repo TEXT NOT NULL,
	branch TEXT NOT NULL,
	login TEXT NOT NULL,
	PRIMARY KEY (repo, branch, login)
)`

// headsTable keeps the heads a PR reached through a push GitHub announced
// (opened, synchronize): a head it reached otherwise (pushed while it was
// closed, from a fork) was pushed by someone the bot cannot name.
const headsTable = `CREATE TABLE IF NOT EXISTS stagebot_heads (
	repo TEXT NOT NULL,
	pr INTEGER NOT NULL,
	head_sha TEXT NOT NULL,
	PRIMARY KEY (repo, pr, head_sha)
)`

// AddHead records that the PR reached head through an announced push.
func (s *Store) AddHead(ctx context.Context, repo string, pr int, head string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_heads (repo, pr, head_sha) VALUES ($1, $2, $3) ON CONFLICT (repo, pr, head_sha) DO NOTHING`,
		repo, pr, head); err != nil {
		return fmt.Errorf("record head %s of %s#%d: %w", head, repo, pr, err)
	}
	return nil
}

// HeadSeen reports whether the PR reached head through an announced push.
func (s *Store) HeadSeen(ctx context.Context, repo string, pr int, head string) (bool, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM stagebot_heads WHERE repo = $1 AND pr = $2 AND head_sha = $3`, repo, pr, head).Scan(&n); err != nil {
		return false, fmt.Errorf("read the heads of %s#%d: %w", repo, pr, err)
	}
	return n > 0, nil
}

// commitPushersTable keeps who pushed each commit (push events, on any
// branch): a PR's commits may have been pushed to another branch first.
const commitPushersTable = `CREATE TABLE IF NOT EXISTS stagebot_commit_pushers (
	repo TEXT NOT NULL,
	sha TEXT NOT NULL,
	login TEXT NOT NULL,
	PRIMARY KEY (repo, sha, login)
)`

// AddCommitPushers records that login pushed the commits shas.
func (s *Store) AddCommitPushers(ctx context.Context, repo, login string, shas []string) error {
	for _, sha := range shas {
		if _, err := s.db.ExecContext(ctx,
			`INSERT INTO stagebot_commit_pushers (repo, sha, login) VALUES ($1, $2, $3) ON CONFLICT (repo, sha, login) DO NOTHING`,
			repo, sha, login); err != nil {
			return fmt.Errorf("record a push of %s to %s by %s: %w", sha, repo, login, err)
		}
	}
	return nil
}

// CommitPushers returns who pushed any of the commits shas, as recorded.
func (s *Store) CommitPushers(ctx context.Context, repo string, shas []string) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, sha := range shas {
		rows, err := s.db.QueryContext(ctx, `SELECT login FROM stagebot_commit_pushers WHERE repo = $1 AND sha = $2`, repo, sha)
		if err != nil {
			return nil, fmt.Errorf("read who pushed %s to %s: %w", sha, repo, err)
		}
		for rows.Next() {
			var login string
			if err := rows.Scan(&login); err != nil {
				rows.Close()
				return nil, err
			}
			if !seen[login] {
				seen[login] = true
				out = append(out, login)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AddBranchPusher records that login pushed to branch.
func (s *Store) AddBranchPusher(ctx context.Context, repo, branch, login string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_branch_pushers (repo, branch, login) VALUES ($1, $2, $3) ON CONFLICT (repo, branch, login) DO NOTHING`,
		repo, branch, login); err != nil {
		return fmt.Errorf("record a push of %s to %s %s: %w", login, repo, branch, err)
	}
	return nil
}

// AddPusher records that login pushed to the PR.
func (s *Store) AddPusher(ctx context.Context, repo string, pr int, login string) error {
	if _, err := s.db.ExecContext(ctx,
		`INSERT INTO stagebot_pushers (repo, pr, login) VALUES ($1, $2, $3) ON CONFLICT (repo, pr, login) DO NOTHING`,
		repo, pr, login); err != nil {
		return fmt.Errorf("record a push of %s to %s#%d: %w", login, repo, pr, err)
	}
	return nil
}

// Pushers returns who pushed to the PR, as recorded: the senders of its
// synchronize events and, for a head branch in the repository itself
// (branch not ""), of every push to that branch.
func (s *Store) Pushers(ctx context.Context, repo string, pr int, branch string) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT login FROM stagebot_pushers WHERE repo = $1 AND pr = $2
		UNION SELECT login FROM stagebot_branch_pushers WHERE repo = $1 AND branch = $3 AND $3 <> ''`, repo, pr, branch)
	if err != nil {
		return nil, fmt.Errorf("read the pushers of %s#%d: %w", repo, pr, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var login string
		if err := rows.Scan(&login); err != nil {
			return nil, err
		}
		out = append(out, login)
	}
	return out, rows.Err()
}
