package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stagebot/stagebot/internal/seal"
)

func keyring(t *testing.T) *seal.Keyring {
	b := make([]byte, 32)
	rand.Read(b)
	kr, err := seal.Parse(base64.StdEncoding.EncodeToString(b))
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// A plan kept with plan keys cannot be read without them: the file is
// neither Terraform's zip nor shows the plan's values; a runner with
// another key, and a tampered file, are refused before Terraform runs;
// the right key applies it.
func TestSealedPlans(t *testing.T) {
	data := t.TempDir()
	key := keyring(t)
	newR := func(kr *seal.Keyring) *Runner {
		r, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: data, PlanKeys: kr, Plans: shared, Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	r := newR(key)
	state := t.TempDir()
	const secret = "planted-value-7f3a9c"
	run := stage(t, t.TempDir(), "s", map[string]string{"main.tf": backend(state, "s") + "resource \"terraform_data\" \"x\" {\n  input = \"" + secret + "\"\n}\n"})
	plan, err := r.Plan(context.Background(), run)
	if err != nil {
		t.Fatal(logOf(err))
	}
	r.MarkPosted(context.Background(), plan.Meta)
	kept, err := os.ReadFile(r.planPath(run.Repo, run.PR, run.Stage))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.HasPrefix(kept, []byte("PK")) || bytes.Contains(kept, []byte(secret)) || bytes.Contains(kept, []byte("terraform_data")) {
		t.Fatal("the kept plan is readable without the key")
	}
	applied := func() bool {
		b, _ := os.ReadFile(filepath.Join(state, "s.tfstate"))
		return strings.Contains(string(b), secret)
	}
	if _, err := newR(keyring(t)).Apply(context.Background(), run); !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "not among the plan keys") {
		t.Errorf("apply with another key: %v", err)
	}
	// A refused apply drops the plan: plan again.
	if plan, err = r.Plan(context.Background(), run); err != nil {
		t.Fatal(logOf(err))
	}
	r.MarkPosted(context.Background(), plan.Meta)
	if kept, err = os.ReadFile(r.planPath(run.Repo, run.PR, run.Stage)); err != nil {
		t.Fatal(err)
	}
	tampered := bytes.Clone(kept)
	tampered[len(tampered)/2] ^= 0x40
	os.WriteFile(r.planPath(run.Repo, run.PR, run.Stage), tampered, 0o600)
	if _, err := r.Apply(context.Background(), run); !errors.Is(err, ErrStalePlan) || !strings.Contains(err.Error(), "changed") {
		t.Errorf("apply of a tampered plan: %v", err)
	}
	if applied() {
		t.Fatal("a refused plan was applied")
	}
	// Planned again, the right key applies it.
	plan, err = r.Plan(context.Background(), run)
	if err != nil {
		t.Fatal(logOf(err))
	}
	r.MarkPosted(context.Background(), plan.Meta)
	if _, err := r.Apply(context.Background(), run); err != nil || !applied() {
		t.Fatalf("apply with the key: %v", logOf(err))
	}
}

// shared is one plan record store for the runners of a test.
var shared = &MemoryPlans{}
