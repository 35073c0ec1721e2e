package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// PlanKey names a PR stage's saved plan.
type PlanKey struct {
	Repo  string
	PR    int
	Stage string
}

// PlanFiles keeps the saved plan files themselves (sealed when the runner
// has plan keys); their records (hash, head, base) are in the PlanStore.
// On disk they are one replica's; in the database any replica reads them.
type PlanFiles interface {
	PutPlanFile(ctx context.Context, k PlanKey, engine string, data []byte) error
	// PlanFile returns the file; os.ErrNotExist when there is none.
	PlanFile(ctx context.Context, k PlanKey) ([]byte, error)
	// PlanFileEngine says whether the file exists, and its engine.
	PlanFileEngine(ctx context.Context, k PlanKey) (engine string, ok bool, err error)
	DeletePlanFile(ctx context.Context, k PlanKey) error
	// DeletePRPlanFiles deletes every plan file of a PR.
	DeletePRPlanFiles(ctx context.Context, repo string, pr int) error
}

// diskPlans keeps plan files under the data dir's plans/ (0600), each with
// a sidecar naming its engine.
type diskPlans struct{ dir string }

func (d diskPlans) prDir(repo string, pr int) string {
	return filepath.Join(d.dir, safe(strings.ReplaceAll(repo, "/", "__")), fmt.Sprintf("pr-%d", pr))
}

func (d diskPlans) path(k PlanKey) string {
	return filepath.Join(d.prDir(k.Repo, k.PR), safe(k.Stage)+".tfplan")
}

func (d diskPlans) PutPlanFile(_ context.Context, k PlanKey, engine string, data []byte) error {
	dst := d.path(k)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".plan-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst+".engine", []byte(engine), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

func (d diskPlans) PlanFile(_ context.Context, k PlanKey) ([]byte, error) {
	return os.ReadFile(d.path(k))
}

func (d diskPlans) PlanFileEngine(_ context.Context, k PlanKey) (string, bool, error) {
	if _, err := os.Stat(d.path(k)); errors.Is(err, os.ErrNotExist) {
		return "", false, nil
	} else if err != nil {
		return "", false, err
	}
	engine, _ := os.ReadFile(d.path(k) + ".engine")
	return string(engine), true, nil
}

func (d diskPlans) DeletePlanFile(_ context.Context, k PlanKey) error {
	os.Remove(d.path(k) + ".engine")
	if err := os.Remove(d.path(k)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

func (d diskPlans) DeletePRPlanFiles(_ context.Context, repo string, pr int) error {
	return os.RemoveAll(d.prDir(repo, pr))
}
