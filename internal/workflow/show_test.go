package workflow

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stagebot/stagebot/internal/comments"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// parts is a stage's comment in n parts, each saying which of n it is, as
// comments.Plan splits a long one.
func parts(stage string, n int) []string {
	out := make([]string, n)
	for i := range n {
		marker := comments.Marker(stage)
		if i > 0 {
			marker = comments.PartMarker(stage, i+1)
		}
		out[i] = fmt.Sprintf("%s\n#### stagebot plan: `%s` (part %d of %d)\n", marker, stage, i+1, n)
	}
	return out
}

// A re-run that makes a stage's comment shorter rewrites it whole: a
// 5-part comment becomes 3 parts, each "of 3", and the two it no longer
// needs are deleted; another stage's parts and a person's comment quoting
// a part's marker stay.
func TestShorterCommentLeavesNoOrphanPart(t *testing.T) {
	b := setup(t)
	ctx := context.Background()
	client := b.w.client(githubtest.InstallationID)
	b.fake.AddPull(b.repo, githubtest.Pull{Number: 1, Author: "alice", HeadRef: "main", HeadSHA: b.base, BaseSHA: b.base})
	for stage, n := range map[string]int{"infrastructure": 5, "platform": 5} {
		if err := b.w.writeParts(ctx, client, b.gh, 1, stage, parts(stage, n)); err != nil {
			t.Fatal(err)
		}
	}
	b.fake.AddComment(b.repo, 1, "alice", "> "+comments.PartMarker("infrastructure", 4)+"\nwhat is this part?")
	if err := b.w.writeParts(ctx, client, b.gh, 1, "infrastructure", parts("infrastructure", 3)); err != nil {
		t.Fatal(err)
	}
	var mine, platform, people int
	for _, c := range b.fake.Comments(b.repo, 1) {
		switch {
		case !c.IsBot:
			people++
		case strings.Contains(c.Body, "`platform`"):
			platform++
		case strings.Contains(c.Body, "`infrastructure`"):
			mine++
			if !strings.Contains(c.Body, " of 3)") {
				t.Errorf("a part of the rewritten comment is not one of 3:\n%s", c.Body)
			}
		}
	}
	if mine != 3 || platform != 5 || people != 1 {
		t.Errorf("infrastructure has %d parts (want 3), platform %d (want 5), people's comments %d (want 1)", mine, platform, people)
	}
}
