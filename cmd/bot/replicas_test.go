package main

import (
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/dbtest"
	"github.com/stagebot/stagebot/internal/github/githubtest"
)

// replicaEnv is a bot of a replica set: its own data dir (no shared disk),
// the shared PostgreSQL, the shared plan key, a quick takeover.
func replicaEnv(gh *githubtest.Server, dir, db, key string) []string {
	return append(autoplanEnv(gh, dir),
		"STAGEBOT_DATABASE_URL="+db, "STAGEBOT_PLAN_KEYS="+key,
		"STAGEBOT_TAKEOVER=5s", "STAGEBOT_JOB_TIMEOUT=40s")
}

// countIn counts the log lines of the bots with all of the parts.
func countIn(bots []*bot, parts ...string) (n int, who []int) {
	for i, b := range bots {
		for _, line := range strings.Split(b.Logs(), "\n") {
			all := true
			for _, p := range parts {
				all = all && strings.Contains(line, p)
			}
			if all {
				n++
				who = append(who, i)
			}
		}
	}
	return n, who
}

// Three replicas on one PostgreSQL, each with its own disk: a PR planned
// by one is applied by another from the plan kept (sealed) in the
// database, with the planner gone; a replica killed with -9 mid-plan has
// its job completed by another. Nothing is lost or done twice.
func TestStatelessReplicas(t *testing.T) {
	db := dbtest.FreshPostgres(t)
	raw := make([]byte, 32)
	rand.Read(raw)
	key := base64.StdEncoding.EncodeToString(raw)
	gh := githubtest.New(t)
	repo := gh.AddRepo("acme", "platform")
	files := quickstartFiles(t)
	var state string
	for _, c := range files {
		if i := strings.Index(c, "path = \""); i >= 0 && strings.Contains(c, "infrastructure.tfstate") {
			state = filepath.Dir(strings.SplitN(c[i+8:], "\"", 2)[0])
		}
	}
	base := gh.Commit(repo, "main", "", files, "quickstart")
	gh.SetPermission(repo, "alice", "write")
	gh.SetPermission(repo, "carol", "maintain")
	var bots []*bot
	var dirs []string
	for range 3 {
		dir := t.TempDir()
		dirs = append(dirs, dir)
		bots = append(bots, startBot(t, replicaEnv(gh, dir, db, key)))
	}
	f := &prFlow{t: t, gh: gh, repo: repo, base: base, bot: bots[0]}

	// Planned by one replica...
	f.pr(1, "main", map[string]string{"terraform/infrastructure/a.tf": "resource \"terraform_data\" \"a\" {\n  input = 1\n}\n"}, base, 1)
	f.stageComment(1, "infrastructure", "+3 to add")
	var planners []int
	eventually(t, 10*time.Second, "the planner's log", func() bool {
		_, planners = countIn(bots, `"msg":"stage planned"`, `"pr":1,`)
		return len(planners) > 0
	})
	if len(planners) != 1 {
		t.Fatalf("planned by %v, want one replica", planners)
	}
	planner := planners[0]
	// ... which then goes away with its disk.
	bots[planner].stop()
	live := []int{}
	for i := range bots {
		if i != planner {
			live = append(live, i)
		}
	}
	f.bot = bots[live[0]]
	f.say(1, "alice", "/apply")
	f.stageComment(1, "infrastructure", "✅ stagebot applied `infrastructure`")
	var n int
	var appliers []int
	eventually(t, 10*time.Second, "the applier's log", func() bool {
		n, appliers = countIn(bots, `"msg":"applied"`, `"stage":"infrastructure"`)
		return n > 0
	})
	if n != 1 || appliers[0] == planner {
		t.Fatalf("applied %d times, by %v (planned by %d)", n, appliers, planner)
	}
	if !stateHas(t, state, "a") {
		t.Fatal("the apply did not reach the state")
	}
	// The applier read the plan from the database: its disk never had it.
	if plans, _ := filepath.Glob(filepath.Join(dirs[appliers[0]], "plans", "*", "*", "*")); len(plans) != 0 {
		t.Errorf("plan files on the applier's disk: %v", plans)
	}
	// What the database keeps of plans is sealed.
	conn, err := sql.Open("pgx", db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	// A replica killed with -9 mid-plan: another completes the job.
	slow := map[string]string{"terraform/infrastructure/many.tf": "resource \"terraform_data\" \"r\" {\n  count = 3000\n  input = count.index\n}\n"}
	head2 := gh.Commit(repo, "pr-2", "main", slow, "many")
	gh.AddPull(repo, githubtest.Pull{Number: 2, Author: "alice", HeadRef: "pr-2", HeadSHA: head2, BaseRef: "main", BaseSHA: base})
	f.deliver("pull_request", gh.PullRequestPayload(repo, 2, "opened", 0))
	var victim int
	eventually(t, 30*time.Second, "a replica planning #2", func() bool {
		_, who := countIn(bots, `"msg":"job started"`, `"pr":2,`)
		if len(who) > 0 {
			victim = who[0]
		}
		return len(who) > 0
	})
	// Mid-plan: Terraform is running for #2 (its sealed plan not kept yet).
	time.Sleep(500 * time.Millisecond)
	var blobs int
	conn.QueryRow(`SELECT count(*) FROM stagebot_plan_files WHERE pr = 2`).Scan(&blobs)
	bots[victim].kill9()
	f.stageComment(2, "infrastructure", "+3000 to add") // by a survivor, after the takeover
	stageComments := 0
	for _, c := range gh.BotComments(repo, 2) {
		if strings.HasPrefix(c.Body, "<!-- stagebot:stage=infrastructure -->") {
			stageComments++
		}
	}
	if stageComments != 1 {
		t.Errorf("%d infrastructure comments on #2", stageComments)
	}
	var who []int
	eventually(t, 10*time.Second, "the log of #2's plan", func() bool {
		n, who = countIn(bots, `"msg":"stage planned"`, `"pr":2,`)
		return n > 0
	})
	if n != 1 || who[0] == victim {
		t.Errorf("#2 planned %d times by %v; the killed replica was %d (it had kept %d plan files)", n, who, victim, blobs)
	}
	var kept []byte
	if err := conn.QueryRow(`SELECT data FROM stagebot_plan_files WHERE pr = 2 AND stage = 'infrastructure'`).Scan(&kept); err != nil {
		t.Fatalf("the plan of #2 is not in the database: %v", err)
	}
	if strings.HasPrefix(string(kept), "PK") || !strings.HasPrefix(string(kept), "stagebot-seal-v1:") {
		t.Errorf("the plan in the database is not sealed: %q", fmt.Sprint(kept[:16]))
	}
}
