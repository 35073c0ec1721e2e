package runner

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/hashicorp/go-version"
)

// The install tests fetch from a mirror on loopback, laid out as
// releases.hashicorp.com, whose releases hold the real Terraform of
// terraformBin() and are signed with a key made here. They do not run in
// parallel: exec'ing a binary just written while another test forks can
// fail with "text file busy".

// mirrorFile is one file of the mirror.
type mirrorFile struct {
	body        []byte
	contentType string
	noLength    bool // sent chunked, without a Content-Length
}

// releaseMirror is a releases site on 127.0.0.1 that counts what it is asked.
type releaseMirror struct {
	url      string
	files    map[string]mirrorFile
	requests atomic.Int64
}

func newReleaseMirror(t *testing.T) *releaseMirror {
	t.Helper()
	m := &releaseMirror{files: map[string]mirrorFile{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.requests.Add(1)
		f, ok := m.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", f.contentType)
		if !f.noLength {
			w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
		}
		w.Write(f.body)
	}))
	t.Cleanup(srv.Close)
	m.url = srv.URL
	return m
}

// mirrorRelease is how the mirror serves one version.
type mirrorRelease struct {
	version string          // the version it is served as
	signer  *openpgp.Entity // signs its SHA256SUMS
	tamper  bool            // the zip differs from its checksum
	chunked bool            // the zip comes without a Content-Length
}

// add serves rel: its index.json, the zip of the test's Terraform, the
// SHA256SUMS and their detached signature, at hc-install's paths.
func (m *releaseMirror) add(t *testing.T, rel mirrorRelease) {
	t.Helper()
	v, dir := rel.version, "/terraform/"+rel.version+"/"
	zipName := fmt.Sprintf("terraform_%s_%s_%s.zip", v, runtime.GOOS, runtime.GOARCH)
	sums, sig := "terraform_"+v+"_SHA256SUMS", "terraform_"+v+"_SHA256SUMS.sig"
	archive := mustReleaseZip(t)
	sumsBody := fmt.Appendf(nil, "%x  %s\n", sha256.Sum256(archive), zipName)
	if rel.tamper {
		archive = bytes.Clone(archive)
		archive[len(archive)/2] ^= 0xff
	}
	var sigBody bytes.Buffer
	if err := openpgp.DetachSign(&sigBody, rel.signer, bytes.NewReader(sumsBody), nil); err != nil {
		t.Fatal(err)
	}
	index, err := json.Marshal(map[string]any{
		"name": "terraform", "version": v, "shasums": sums, "shasums_signature": sig,
		"builds": []map[string]string{{
			"name": "terraform", "version": v, "os": runtime.GOOS, "arch": runtime.GOARCH, "filename": zipName,
			// As on HashiCorp's site: hc-install takes the path to the mirror.
			"url": "https://releases.hashicorp.com" + dir + zipName,
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.files[dir+"index.json"] = mirrorFile{index, "application/json", false}
	m.files[dir+zipName] = mirrorFile{archive, "application/zip", rel.chunked}
	m.files[dir+sums] = mirrorFile{sumsBody, "text/plain", false}
	m.files[dir+sig] = mirrorFile{sigBody.Bytes(), "application/octet-stream", false}
}

// releaseTerraform is the Terraform the mirror's releases hold.
var releaseTerraform = sync.OnceValues(func() (*engine, error) {
	return findTerraform(context.Background(), terraformBin())
})

func mustReleaseTerraform(t *testing.T) *engine {
	t.Helper()
	e, err := releaseTerraform()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// releaseZip is the release zip, made once: the binary is large.
var releaseZip = sync.OnceValues(func() ([]byte, error) {
	e, err := releaseTerraform()
	if err != nil {
		return nil, err
	}
	bin, err := os.ReadFile(e.bin)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	h := &zip.FileHeader{Name: "terraform", Method: zip.Store}
	h.SetMode(0o755)
	w, err := zw.CreateHeader(h)
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(bin); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
})

func mustReleaseZip(t *testing.T) []byte {
	t.Helper()
	b, err := releaseZip()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newReleaseKey makes a signing key and its armored public half.
func newReleaseKey(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e, armorKey(t, openpgp.PublicKeyType, e.Serialize)
}

func armorKey(t *testing.T, blockType string, serialize func(w io.Writer) error) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, blockType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := serialize(w); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// installBundle is one start of the bot against a mirror.
type installBundle struct {
	mirror *releaseMirror
	key    *openpgp.Entity
	pub    string // the armored public key given as the key file
	dir    string // the versions dir
	want   string // the version the test's Terraform says it is
}

func setupInstall(t *testing.T) *installBundle {
	t.Helper()
	key, pub := newReleaseKey(t, "mirror")
	return &installBundle{mirror: newReleaseMirror(t), key: key, pub: pub, dir: filepath.Join(t.TempDir(), "versions"), want: mustReleaseTerraform(t).version.String()}
}

// start is runner.New as the bot calls it, installing versions.
func (b *installBundle) start(t *testing.T, versions ...string) error {
	t.Helper()
	var install []*version.Version
	for _, v := range versions {
		install = append(install, version.Must(version.NewVersion(v)))
	}
	_, err := New(context.Background(), Config{
		TerraformBin: terraformBin(), TerraformVersionsDir: b.dir, DataDir: t.TempDir(),
		TerraformInstall: install, TerraformReleases: ReleaseSource{URL: b.mirror.url, ArmoredKey: b.pub},
	})
	return err
}

// dirEntries lists the versions dir, hidden entries too.
func dirEntries(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir {
			rel, _ := filepath.Rel(dir, path)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func TestInstallTerraform(t *testing.T) {
	other, _ := newReleaseKey(t, "other")
	tests := []struct {
		name   string
		rel    func(b *installBundle) mirrorRelease
		url    string   // path the mirror's URL adds
		err    []string // what the start error says; none: it starts
		leaves []string // what the versions dir then holds
	}{
		{name: "installs a verified release",
			rel: func(b *installBundle) mirrorRelease { return mirrorRelease{version: b.want, signer: b.key} }},
		{name: "a zip that differs from its checksum",
			rel: func(b *installBundle) mirrorRelease {
				return mirrorRelease{version: b.want, signer: b.key, tamper: true}
			},
			err: []string{"install Terraform 1.11.4", "checksum mismatch"}},
		{name: "checksums signed by another key",
			rel: func(b *installBundle) mirrorRelease { return mirrorRelease{version: b.want, signer: other} },
			err: []string{"install Terraform 1.11.4", "unable to verify checksums signature"}},
		{name: "a mirror without the release",
			rel: func(b *installBundle) mirrorRelease { return mirrorRelease{version: b.want, signer: b.key} }, url: "/nothing",
			err: []string{"install Terraform 1.11.4", "/nothing/terraform/1.11.4/index.json", "404 Not Found"}},
		// The binary is asked its version before it takes its place, as
		// the scan asks it after.
		{name: "a release that is another version",
			rel: func(b *installBundle) mirrorRelease { return mirrorRelease{version: "9.9.9", signer: b.key} },
			err: []string{"install Terraform 9.9.9", "the release's binary says it is Terraform 1.11.4"}},
		{name: "a zip sent without its length",
			rel: func(b *installBundle) mirrorRelease {
				return mirrorRelease{version: b.want, signer: b.key, chunked: true}
			},
			err: []string{"install Terraform 1.11.4", "without a Content-Length"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupInstall(t)
			rel := tt.rel(b)
			b.mirror.add(t, rel)
			b.mirror.url += tt.url
			err := b.start(t, rel.version)
			got := dirEntries(t, b.dir)
			if len(tt.err) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				bin := filepath.Join(b.dir, b.want, "terraform")
				st, err := os.Stat(bin)
				if err != nil || st.Mode().Perm() != 0o755 {
					t.Fatalf("installed binary: %v, %v", st, err)
				}
				found, err := scanVersions(context.Background(), b.dir)
				if err != nil || len(found) != 1 || found[0].version.String() != b.want || found[0].bin != bin {
					t.Fatalf("scan found %v, %v; want Terraform %s at %s", found, err, b.want, bin)
				}
				tt.leaves = []string{b.want, b.want + "/terraform"}
			} else {
				if err == nil {
					t.Fatal("started")
				}
				t.Log(err)
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), strings.ReplaceAll(want, "1.11.4", b.want)) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if strings.Contains(err.Error(), keyLine(b.pub)) {
					t.Errorf("error %q quotes the key", err)
				}
			}
			if strings.Join(got, " ") != strings.Join(tt.leaves, " ") {
				t.Errorf("versions dir holds %q, want %q", got, tt.leaves)
			}
		})
	}
}

// keyLine is a line of an armored key's content.
func keyLine(armored string) string {
	lines := strings.Split(strings.TrimSpace(armored), "\n")
	return lines[len(lines)/2]
}

// A version the dir has, in any layout the scan reads, is not
// downloaded again.
func TestInstallTerraformOnlyWhenMissing(t *testing.T) {
	t.Run("a second start", func(t *testing.T) {
		b := setupInstall(t)
		b.mirror.add(t, mirrorRelease{version: b.want, signer: b.key})
		if err := b.start(t, b.want); err != nil {
			t.Fatal(err)
		}
		if b.mirror.requests.Load() == 0 {
			t.Fatal("the first start asked the mirror nothing")
		}
		b.mirror.requests.Store(0)
		if err := b.start(t, b.want); err != nil {
			t.Fatal(err)
		}
		if n := b.mirror.requests.Load(); n != 0 {
			t.Errorf("the second start made %d requests", n)
		}
	})
	t.Run("a binary put there as terraform_VERSION", func(t *testing.T) {
		b := setupInstall(t)
		link(t, mustReleaseTerraform(t).bin, filepath.Join(b.dir, "terraform_"+b.want))
		if err := b.start(t, b.want); err != nil {
			t.Fatal(err)
		}
		if n := b.mirror.requests.Load(); n != 0 {
			t.Errorf("the start made %d requests", n)
		}
	})
}

// The key must be an armored public key, and errors never quote it.
func TestInstallTerraformKeys(t *testing.T) {
	key, _ := newReleaseKey(t, "mirror")
	private := armorKey(t, openpgp.PrivateKeyType, func(w io.Writer) error { return key.SerializePrivate(w, nil) })
	tests := []struct{ name, key, err string }{
		{"not a key", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nc2VjcmV0IG5vdCBhIGtleQ==\n-----END PGP PUBLIC KEY BLOCK-----\n", "not an armored PGP public key"},
		{"a private key", private, "holds a private key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := setupInstall(t)
			b.pub = tt.key
			err := b.start(t, b.want)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if strings.Contains(err.Error(), keyLine(tt.key)) {
				t.Errorf("error %q quotes the key", err)
			}
			if n := b.mirror.requests.Load(); n != 0 {
				t.Errorf("%d requests with a bad key", n)
			}
		})
	}
}

func TestInstallTerraformNeedsVersionsDir(t *testing.T) {
	_, err := New(context.Background(), Config{TerraformBin: terraformBin(), DataDir: t.TempDir(), TerraformInstall: []*version.Version{version.Must(version.NewVersion("1.11.4"))}})
	if err == nil || !strings.Contains(err.Error(), "STAGEBOT_TERRAFORM_VERSIONS_DIR") {
		t.Fatalf("err = %v", err)
	}
}
