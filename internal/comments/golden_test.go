package comments

import (
	"compress/gzip"
	"encoding/json"
	"github.com/stagebot/stagebot/internal/redact"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	tfjson "github.com/hashicorp/terraform-json"
)

// planted is a value the gen fixtures put in a resource without marking it
// sensitive; the tests tell the renderer it is a secret.
const planted = "s3cr3t-planted-value"

const testSHA = "0123456789abcdef0123456789abcdef01234567"

// readInput reads a case's input file, gzipped or not; "" when absent.
func readInput(t *testing.T, dir, name string) string {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
		return string(b)
	}
	f, err := os.Open(filepath.Join(dir, name+".gz"))
	if err != nil {
		return ""
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loadCase turns a gen case into what the workflow hands the renderer.
func loadCase(t *testing.T, name string) StagePlan {
	dir := filepath.Join("testdata", "plans", name)
	p := StagePlan{Stage: "platform", HeadSHA: testSHA, Text: readInput(t, dir, "plan.txt"), Log: readInput(t, dir, "log.txt"), Error: readInput(t, dir, "error.txt")}
	if js := readInput(t, dir, "plan.json"); js != "" {
		p.Plan = &tfjson.Plan{}
		if err := json.Unmarshal([]byte(js), p.Plan); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func cases(t *testing.T) []string {
	entries, err := os.ReadDir(filepath.Join("testdata", "plans"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// golden compares got with testdata/golden/name; UPDATE=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if os.Getenv("UPDATE") != "" {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run UPDATE=1 go test ./internal/comments)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file (UPDATE=1 go test ./internal/comments rewrites it); got:\n%s", name, got)
	}
}

func TestGoldenPlanComments(t *testing.T) {
	for _, name := range cases(t) {
		t.Run(name, func(t *testing.T) {
			p := loadCase(t, name)
			parts := Plan(p, redact.New(planted))
			golden(t, name+".md", strings.Join(parts, "\n\n<!-- ---- next comment ---- -->\n\n"))
			check := PlanCheck(p, redact.New(planted))
			golden(t, name+".check.md", "status: "+check.Status+"\nconclusion: "+check.Conclusion+"\ntitle: "+check.Title+"\n\n## summary\n\n"+check.Summary+"\n\n## text\n\n"+check.Text+"\n")
			for i, body := range parts {
				assertComment(t, body, i)
			}
			if runes(check.Summary) > MaxCheckRunChars || runes(check.Text) > MaxCheckRunChars {
				t.Errorf("check run output over GitHub's limit: summary %d, text %d", runes(check.Summary), runes(check.Text))
			}
			for _, secret := range []string{planted, "hunter2-sensitive"} {
				if strings.Contains(strings.Join(parts, ""), secret) || strings.Contains(check.Text+check.Summary, secret) {
					t.Errorf("secret %q survived redaction", secret)
				}
			}
		})
	}
}

// assertComment checks what GitHub and readers need of every comment: within
// the limit, its marker, and balanced fences and <details>.
func assertComment(t *testing.T, body string, part int) {
	t.Helper()
	if n := runes(body); n > MaxCommentChars {
		t.Errorf("part %d has %d characters, over GitHub's %d", part+1, n, MaxCommentChars)
	}
	if !strings.HasPrefix(body, "<!-- stagebot:stage=") {
		t.Errorf("part %d does not start with its marker", part+1)
	}
	if err := balanced(body); err != "" {
		t.Errorf("part %d: %s", part+1, err)
	}
}

// balanced reports unclosed code fences or <details> blocks.
func balanced(body string) string {
	inFence := ""
	details := 0
	for _, line := range strings.Split(body, "\n") {
		l := strings.TrimSpace(line)
		if inFence != "" {
			if strings.HasPrefix(l, inFence) && strings.Trim(l, "`") == "" {
				inFence = ""
			}
			continue
		}
		switch {
		case strings.HasPrefix(l, "```"):
			inFence = fenceRun(l)
		case strings.HasPrefix(l, "<details"):
			details++
		case strings.HasPrefix(l, "</details>"):
			details--
			if details < 0 {
				return "</details> without <details>"
			}
		}
	}
	if inFence != "" {
		return "code fence left open"
	}
	if details != 0 {
		return "<details> left open"
	}
	return ""
}

func TestLargePlanSplitsIntoParts(t *testing.T) {
	p := loadCase(t, "large")
	parts := Plan(p, nil)
	if len(parts) != MaxParts {
		t.Fatalf("10,000-resource plan: %d parts, want %d", len(parts), MaxParts)
	}
	all := strings.Join(parts, "")
	if !strings.Contains(all, "Plan: 10000 to add, 0 to change, 0 to destroy.") {
		t.Error("the plan's summary line (at its end) was cut")
	}
	if !strings.Contains(all, "lines cut here") {
		t.Error("no note says what was cut")
	}
	if !strings.Contains(parts[0], "**+10000 to add") {
		t.Error("the first part lacks the headline")
	}
	for i := 1; i < len(parts); i++ {
		if !strings.HasPrefix(parts[i], PartMarker("platform", i+1)) || !strings.Contains(parts[i], "(part "+string(rune('0'+i+1))+" of 4)") {
			t.Errorf("part %d header: %q", i+1, parts[i][:80])
		}
	}
}
