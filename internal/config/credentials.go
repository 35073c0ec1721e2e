package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Credentials are the variables Terraform's plans and applies get, read
// once at start from the bot's environment and its credentials dir.
type Credentials struct {
	Plan, Apply map[string]string
	// Stages are per-stage variables, over Plan and Apply.
	Stages map[string]StageCredentials
	// Missing names the variables a setting lists that are not set.
	Missing []string
}

// StageCredentials are one stage's plan and apply variables.
type StageCredentials struct{ Plan, Apply map[string]string }

// Values are every credential value, for redaction.
func (c Credentials) Values() []string {
	var out []string
	for _, m := range []map[string]string{c.Plan, c.Apply} {
		for _, v := range m {
			out = append(out, v)
		}
	}
	for _, st := range c.Stages {
		for _, m := range []map[string]string{st.Plan, st.Apply} {
			for _, v := range m {
				out = append(out, v)
			}
		}
	}
	return out
}

// LoadCredentials reads plan-env and apply-env from lookup, then the
// credentials dir: plan/NAME and apply/NAME (one file per variable, its
// content the value, a trailing newline dropped), and per stage
// stages/STAGE/plan/NAME and stages/STAGE/apply/NAME. A file wins over the
// environment. Errors name files, never their content.
func (s Settings) LoadCredentials(lookup func(string) (string, bool)) (Credentials, error) {
	c := Credentials{Plan: map[string]string{}, Apply: map[string]string{}, Stages: map[string]StageCredentials{}}
	for _, kind := range []struct {
		from map[string]string
		to   map[string]string
	}{{s.PlanEnv, c.Plan}, {s.ApplyEnv, c.Apply}} {
		for name, source := range kind.from {
			if v, ok := lookup(source); ok {
				kind.to[name] = v
			} else {
				c.Missing = append(c.Missing, source)
			}
		}
	}
	if s.CredentialsDir == "" {
		return c, nil
	}
	if err := readCredentialDir(filepath.Join(s.CredentialsDir, "plan"), c.Plan); err != nil {
		return c, err
	}
	if err := readCredentialDir(filepath.Join(s.CredentialsDir, "apply"), c.Apply); err != nil {
		return c, err
	}
	stages, err := os.ReadDir(filepath.Join(s.CredentialsDir, "stages"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return c, fmt.Errorf("read credentials dir: %w", err)
	}
	for _, st := range stages {
		if !st.IsDir() {
			continue
		}
		sc := StageCredentials{Plan: map[string]string{}, Apply: map[string]string{}}
		base := filepath.Join(s.CredentialsDir, "stages", st.Name())
		if err := readCredentialDir(filepath.Join(base, "plan"), sc.Plan); err != nil {
			return c, err
		}
		if err := readCredentialDir(filepath.Join(base, "apply"), sc.Apply); err != nil {
			return c, err
		}
		c.Stages[st.Name()] = sc
	}
	return c, nil
}

func readCredentialDir(dir string, into map[string]string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read credentials dir %s: %w", dir, err)
	}
	for _, e := range entries {
		// Kubernetes mounts a Secret's keys as symlinks into ..data/.
		if strings.HasPrefix(e.Name(), ".") || e.IsDir() {
			continue
		}
		if !envName.MatchString(e.Name()) {
			return fmt.Errorf("credential file %s: the name must be a variable name", filepath.Join(dir, e.Name()))
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("read credential file %s: %w", filepath.Join(dir, e.Name()), err)
		}
		into[e.Name()] = strings.TrimSuffix(string(b), "\n")
	}
	return nil
}
