package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// terraform-install lists exact versions; its mirror and key are
// optional, and nothing is downloaded unless it is set.
func TestTerraformInstallSettings(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		install []string // the versions, as set
		url     string
		err     []string // what the error says
		not     string   // what it must not say
	}{
		{name: "off by default", env: nil},
		{name: "versions", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": " 1.11.4, 1.13.3,1.11.4,1.14.0-rc1"},
			install: []string{"1.11.4", "1.13.3", "1.14.0-rc1"}},
		{name: "a mirror", env: map[string]string{"STAGEBOT_TERRAFORM_RELEASES_URL": "https://mirror.example.com/hashicorp/"},
			url: "https://mirror.example.com/hashicorp"},
		{name: "a constraint", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "1.11.4,~> 1.13.0"},
			err: []string{"STAGEBOT_TERRAFORM_INSTALL", `"~> 1.13.0" is not an exact Terraform version`}},
		{name: "a shortened version", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "1.11"},
			err: []string{"STAGEBOT_TERRAFORM_INSTALL", `"1.11" is not an exact`}},
		{name: "a v-prefixed version", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "v1.11.4"},
			err: []string{`"v1.11.4" is not an exact`}},
		{name: "an enterprise build", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "1.11.4+ent"},
			err: []string{`"1.11.4+ent" is not an exact`}},
		{name: "latest", env: map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "latest"},
			err: []string{`"latest" is not an exact`}},
		{name: "a mirror that is no URL", env: map[string]string{"STAGEBOT_TERRAFORM_RELEASES_URL": "ftp://mirror.example.com"},
			err: []string{"STAGEBOT_TERRAFORM_RELEASES_URL", "must be an http(s) URL"}},
		{name: "a mirror with credentials", env: map[string]string{"STAGEBOT_TERRAFORM_RELEASES_URL": "https://bot:hunter2@mirror.example.com"},
			err: []string{"STAGEBOT_TERRAFORM_RELEASES_URL", "must not hold credentials"}, not: "hunter2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(t, nil, tt.env)
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatal("no error")
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if tt.not != "" && strings.Contains(err.Error(), tt.not) {
					t.Errorf("error %q says %q", err, tt.not)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range s.TerraformInstall {
				got = append(got, v.String())
			}
			if diff := cmp.Diff(tt.install, got); diff != "" {
				t.Errorf("versions (-want +got):\n%s", diff)
			}
			if s.TerraformReleasesURL != tt.url {
				t.Errorf("url = %q, want %q", s.TerraformReleasesURL, tt.url)
			}
		})
	}
}

// The bot installs into the versions dir: without one it does not start.
func TestTerraformInstallNeedsVersionsDir(t *testing.T) {
	const want = "setting STAGEBOT_TERRAFORM_INSTALL needs STAGEBOT_TERRAFORM_VERSIONS_DIR"
	for _, tt := range []struct {
		name string
		env  map[string]string
		err  bool
	}{
		{"without a versions dir", map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "1.11.4"}, true},
		{"with one", map[string]string{"STAGEBOT_TERRAFORM_INSTALL": "1.11.4", "STAGEBOT_TERRAFORM_VERSIONS_DIR": "/opt/terraform"}, false},
		{"neither", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, err := load(t, nil, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			// The other settings serve needs are missing: only this one counts.
			err = s.Validate()
			if got := err != nil && strings.Contains(err.Error(), want); got != tt.err {
				t.Errorf("Validate() = %v; want an error saying %q: %v", err, want, tt.err)
			}
		})
	}
}

// The key file is read at start; its errors name the setting, and
// without one HashiCorp's key is used.
func TestTerraformReleasesKey(t *testing.T) {
	s, err := load(t, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if key, err := s.TerraformReleasesKey(); key != "" || err != nil {
		t.Errorf("without a file: %q, %v", key, err)
	}
	file := filepath.Join(t.TempDir(), "mirror.asc")
	const armored = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n...\n-----END PGP PUBLIC KEY BLOCK-----\n"
	if err := os.WriteFile(file, []byte(armored), 0o644); err != nil {
		t.Fatal(err)
	}
	s.TerraformReleasesKeyFile = file
	if key, err := s.TerraformReleasesKey(); key != armored || err != nil {
		t.Errorf("from %s: %q, %v", file, key, err)
	}
	s.TerraformReleasesKeyFile = file + ".missing"
	if _, err := s.TerraformReleasesKey(); err == nil || !strings.Contains(err.Error(), "STAGEBOT_TERRAFORM_RELEASES_KEY_FILE") {
		t.Errorf("a missing file: %v", err)
	}
}
