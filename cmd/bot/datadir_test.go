package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// dirUsage counts the files and bytes under dir.
func dirUsage(dir string) (files, bytes int64) {
	filepath.Walk(dir, func(_ string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() {
			files++
			bytes += info.Size()
		}
		return nil
	})
	return files, bytes
}

// TestDataDirStaysBounded pushes 200 commits through one PR, five at a time:
// the PR keeps one checkout (a newer commit's plan supersedes the older
// ones), at most 64 logs and one saved plan per stage, so the data dir
// after 200 commits holds about what it held after 20.
func TestDataDirStaysBounded(t *testing.T) {
	f, _ := mergeFlow(t)
	data := f.bot.dataDir()
	head := f.gh.Commit(f.repo, "busy", "main", resource("busy0"), "0")
	f.gh.AddPull(f.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "busy", HeadSHA: head, BaseRef: "main", BaseSHA: f.base})
	f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "opened", 0))
	f.stageComment(1, "infrastructure", "at "+head[:7])
	measure := func() (int64, int64) {
		var files, bytes int64
		for _, part := range []string{"workspaces", "logs", "plans"} {
			fl, b := dirUsage(filepath.Join(data, part))
			files, bytes = files+fl, bytes+b
		}
		return files, bytes
	}
	var files20, bytes20 int64
	start := time.Now()
	for i := 1; i <= 200; i++ {
		head = f.gh.Commit(f.repo, "busy", "", map[string]string{"terraform/infrastructure/busy0.tf": fmt.Sprintf("resource \"terraform_data\" \"busy0\" {\n  input = %d\n}\n", i)}, fmt.Sprint(i))
		f.gh.UpdatePull(f.repo, 1, func(p *githubtest.Pull) { p.HeadSHA = head })
		f.deliver("pull_request", f.gh.PullRequestPayload(f.repo, 1, "synchronize", 0))
		// Pushes come faster than plans: a push cancels the plan of the one
		// before. Every fifth push waits for its plan.
		if i%5 == 0 {
			f.stageComment(1, "infrastructure", "at "+head[:7])
		}
		if i == 20 {
			files20, bytes20 = measure()
		}
	}
	took := time.Since(start)
	eventually(t, 10*time.Second, "the last job to end", func() bool {
		checkouts, _ := os.ReadDir(filepath.Join(data, "workspaces", "acme__platform", "pr-1"))
		return len(checkouts) == 1
	})
	files, bytes := measure()
	logs, _ := os.ReadDir(filepath.Join(data, "logs", "acme__platform", "pr-1"))
	plans, _ := os.ReadDir(filepath.Join(data, "plans", "acme__platform", "pr-1"))
	gitFiles, gitBytes := dirUsage(filepath.Join(data, "git"))
	t.Logf("200 commits planned in %s; workspaces+logs+plans: after 20 commits %d files, %d bytes; after 200 %d files, %d bytes (%d logs, %d plans); git mirror %d files, %d bytes",
		took.Round(time.Second), files20, bytes20, files, bytes, len(logs), len(plans), gitFiles, gitBytes)
	if len(logs) > 64 || len(plans) > 3 {
		t.Errorf("%d logs and %d saved plans kept for one PR", len(logs), len(plans))
	}
	if files > files20+64 || bytes > 2*bytes20+1<<20 {
		t.Errorf("the data dir grew with the commits: %d files, %d bytes after 200 against %d, %d after 20", files, bytes, files20, bytes20)
	}
	if !strings.Contains(f.bot.Logs(), "stage planned") {
		t.Error("nothing was planned")
	}
}
