package main

import (
	"fmt"
	"strings"
	"testing"
)

// Step output is redacted before it is cut and never held whole: found by
// the attacker review of issue 28 (a credential's head shown where the cut
// split it; a step's 400 MiB of output in the bot's own memory).

// cutStepYAML: a pre_plan step whose output runs past what the
// runner keeps of it (4 × MaxStepOutput = 256 KiB) with the plan
// credential straddling that cut: 262100 + 28 bytes of filler, then the
// credential, of which the first 16 bytes are inside the limit.
var cutStepYAML = withSteps(`    steps:
      pre_plan:
        - name: verbose
          run: 'yes "$(printf "%099d" 0)" | head -n 2621; printf "%027d\n" 0; printf "%s\n" "$STEP_TOKEN"; echo done'
`)

// TestStepOutputCutShowsNoPartOfASecret: a step's output is cut after it
// is redacted, so a credential that straddles the cut is never shown in
// part, in the comment or the check run.
func TestStepOutputCutShowsNoPartOfASecret(t *testing.T) {
	f, state := mergeFlow(t, "STAGEBOT_PLAN_ENV=STEP_TOKEN=SRC_STEP_TOKEN", "SRC_STEP_TOKEN="+stepSecret)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": cutStepYAML}, "steps")
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	change := strings.Replace(mainTF, `input = "demo-postgres"`, `input = "demo-postgres-2"`, 1)
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": change}, f.base, 1)
	body := f.stageComment(1, "infrastructure", "#### Steps")
	prefix := stepSecret[:16]
	if strings.Contains(body, prefix) {
		i := strings.Index(body, prefix)
		t.Errorf("the plan comment shows %d of the credential's %d characters (%q), cut by the step output limit before redaction:\n…%s…",
			len(prefix), len(stepSecret), prefix, body[max(0, i-120):min(len(body), i+60)])
	}
	for _, c := range f.gh.CheckRuns(f.repo) {
		if strings.Contains(c.Summary+c.Text, prefix) {
			t.Errorf("check run %s shows the credential's head %q", c.Name, prefix)
		}
	}
}

// TestStepOutputIsNotHeldInTheBotsMemory: a step's output is dropped past
// what the comment and the log keep, as it comes. A step whose output
// grows with the PR (terraform fmt -diff, a linter) must cost the bot, not
// the sandbox, nothing: an out-of-memory bot cuts off every job in
// flight, applies included.
func TestStepOutputIsNotHeldInTheBotsMemory(t *testing.T) {
	const outBytes = 400 << 20
	f, state := mergeFlow(t)
	f.base = f.gh.Commit(f.repo, "main", "", map[string]string{"stagebot.yaml": withSteps(fmt.Sprintf(`    steps:
      post_plan:
        - name: report
          run: 'head -c %d /dev/zero | tr "\0" x | fold -w 1000'
`, outBytes))}, "steps")
	pid := f.bot.cmd.Process.Pid
	before := peakRSS(t, pid)
	mainTF := stateIn(quickstartTree(t), state)["terraform/infrastructure/main.tf"]
	f.pr(1, "main", map[string]string{"terraform/infrastructure/main.tf": strings.Replace(mainTF, `input = "demo-postgres"`, `input = "demo-postgres-2"`, 1)}, f.base, 1)
	f.stageComment(1, "infrastructure", "#### Steps")
	after := peakRSS(t, pid)
	t.Logf("bot peak RSS %d MiB before the plan, %d MiB after", before>>20, after>>20)
	if grew := after - before; grew > 100<<20 {
		t.Errorf("a step's %d MiB of output grew the bot's own peak memory by %d MiB (it keeps %d KiB of it)", outBytes>>20, grew>>20, 64)
	}
}
