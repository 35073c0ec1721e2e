package config

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Plan and apply credentials, from the environment and from files; a file
// wins, a stage's own win over the global ones, and errors name files,
// never their content.
func TestLoadCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(p, v string) {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o700)
		os.WriteFile(filepath.Join(dir, p), []byte(v), 0o600)
	}
	write("plan/AWS_ACCESS_KEY_ID", "ro-key\n")
	write("apply/AWS_ACCESS_KEY_ID", "rw-key\n")
	write("stages/tenant/apply/IONOS_TOKEN", "tenant-token")
	write("apply/..data/ignored", "x")
	env := map[string]string{"IONOS_TOKEN_READONLY": "plan-token", "IONOS_TOKEN_ADMIN": "apply-token"}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	s, err := Load(fs, []string{"-plan-env", "IONOS_TOKEN=IONOS_TOKEN_READONLY, MISSING", "-apply-env", "IONOS_TOKEN=IONOS_TOKEN_ADMIN", "-credentials-dir", dir}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.LoadCredentials(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	want := Credentials{
		Plan:    map[string]string{"IONOS_TOKEN": "plan-token", "AWS_ACCESS_KEY_ID": "ro-key"},
		Apply:   map[string]string{"IONOS_TOKEN": "apply-token", "AWS_ACCESS_KEY_ID": "rw-key"},
		Stages:  map[string]StageCredentials{"tenant": {Plan: map[string]string{}, Apply: map[string]string{"IONOS_TOKEN": "tenant-token"}}},
		Missing: []string{"MISSING"},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("credentials = %+v\nwant %+v", c, want)
	}
	write("plan/not-a-name", "secret-in-a-badly-named-file")
	if _, err := s.LoadCredentials(func(string) (string, bool) { return "", false }); err == nil || !strings.Contains(err.Error(), "not-a-name") || strings.Contains(err.Error(), "secret-in") {
		t.Errorf("a badly named file: %v", err)
	}
	for _, bad := range []string{"A=B=C", "1X", "X=", "a b"} {
		if _, err := Load(flag.NewFlagSet("t", flag.ContinueOnError), []string{"-plan-env", bad}, func(string) string { return "" }); err == nil {
			t.Errorf("plan-env %q accepted", bad)
		}
	}
}
