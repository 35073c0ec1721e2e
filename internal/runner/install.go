package runner

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/hashicorp/go-version"
	"github.com/hashicorp/hc-install/product"
	"github.com/hashicorp/hc-install/releases"

	"github.com/stagebot/stagebot/internal/logging"
)

// A deployment that allows downloads may have the bot install the
// Terraform versions its operator lists (terraform-install) into the
// versions dir at start, before the dir is scanned: the scan then asks
// each installed binary its version, as it asks those put there by hand.
// Only listed versions are fetched, each checked by hc-install against
// the SHA256SUMS its releases site signed (HashiCorp's key, or the
// mirror's); checksum verification is never skipped.

// ReleaseSource is where InstallTerraform fetches Terraform releases.
type ReleaseSource struct {
	// URL is a mirror laid out as releases.hashicorp.com (empty: that
	// site).
	URL string
	// ArmoredKey is the PGP public key the mirror signs its SHA256SUMS
	// with (empty: HashiCorp's, built into hc-install).
	ArmoredKey string
	// Timeout bounds the download of one version (default 10 minutes).
	Timeout time.Duration
}

// hashicorpReleases is where hc-install fetches from without a mirror.
const hashicorpReleases = "https://releases.hashicorp.com"

// installConfigured installs cfg.TerraformInstall into the versions dir.
func installConfigured(ctx context.Context, cfg Config) error {
	if len(cfg.TerraformInstall) == 0 {
		return nil
	}
	if cfg.TerraformVersionsDir == "" {
		return errors.New("terraform install: Terraform is installed into the versions dir (STAGEBOT_TERRAFORM_VERSIONS_DIR), and none is set")
	}
	return InstallTerraform(ctx, cfg.TerraformVersionsDir, cfg.TerraformInstall, cfg.TerraformReleases)
}

// InstallTerraform installs each of versions that dir lacks as
// dir/VERSION/terraform (mode 0755). A binary appears whole or not at
// all: it is unpacked into a hidden directory of dir, which the scan
// skips, and renamed into place. A version the dir already has, in any
// layout the scan reads, is not downloaded again.
func InstallTerraform(ctx context.Context, dir string, versions []*version.Version, src ReleaseSource) error {
	if len(versions) == 0 {
		return nil
	}
	if src.ArmoredKey != "" {
		if err := checkReleaseKey(src.ArmoredKey); err != nil {
			return fmt.Errorf("terraform releases key (STAGEBOT_TERRAFORM_RELEASES_KEY_FILE): %w", err)
		}
	}
	if err := makeVersionsDir(dir); err != nil {
		return fmt.Errorf("terraform versions dir: %w", err)
	}
	have, err := namedVersions(dir)
	if err != nil {
		return fmt.Errorf("terraform versions dir: %w", err)
	}
	site := src.URL
	if site == "" {
		site = hashicorpReleases
	}
	for _, v := range versions {
		if slices.ContainsFunc(have, v.Equal) {
			continue
		}
		if err := installVersion(ctx, dir, v, src); err != nil {
			return fmt.Errorf("install Terraform %s from %s into %s: %w", v, site, dir, err)
		}
		have = append(have, v)
		logging.From(ctx).Info("installed Terraform", "version", v.String(), "dir", dir, "from", site)
	}
	return nil
}

// installVersion downloads and verifies Terraform v into a temporary
// directory of dir, asks the binary its version, and only then renames it
// to dir/v/terraform.
func installVersion(ctx context.Context, dir string, v *version.Version, src ReleaseSource) error {
	tmp, err := os.MkdirTemp(dir, ".install-terraform-"+v.String()+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	timeout := src.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	ev := &releases.ExactVersion{
		Product:          product.Terraform,
		Version:          v,
		InstallDir:       tmp,
		ApiBaseURL:       src.URL,
		ArmoredPublicKey: src.ArmoredKey,
		Timeout:          timeout,
	}
	var logged strings.Builder
	ev.SetLogger(log.New(&logged, "", 0))
	bin, err := ev.Install(ctx)
	if err != nil {
		return downloadError(filepath.Join(tmp, product.Terraform.BinaryName()), logged.String(), err)
	}
	if err := syncFile(bin, 0o755); err != nil {
		return err
	}
	// hc-install v0.10.0 can also lose an error of the unpacking, and
	// return a binary cut short: one that does not answer with its
	// version never takes the place of a whole one.
	have, err := TerraformVersion(ctx, bin)
	if err != nil {
		return fmt.Errorf("the downloaded binary: %w", err)
	}
	if !have.Equal(v) {
		return fmt.Errorf("the release's binary says it is Terraform %s", have)
	}
	dst := filepath.Join(dir, v.String())
	if err := os.Mkdir(dst, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	// The umask would keep the sandbox's users out.
	if err := os.Chmod(dst, 0o755); err != nil {
		return err
	}
	if err := os.Rename(bin, filepath.Join(dst, "terraform")); err != nil {
		return err
	}
	return syncDir(dst)
}

// downloadError says why hc-install failed. Its v0.10.0 loses the error
// of a download that failed once begun (a checksum mismatch among them)
// and then fails on the binary that is not there: its log says what
// happened.
func downloadError(bin, logged string, err error) error {
	if strings.Contains(err.Error(), "unable to verify checksums signature") {
		return fmt.Errorf("%w: the SHA256SUMS are not signed with the key the bot checks them with (HashiCorp's, or the one of STAGEBOT_TERRAFORM_RELEASES_KEY_FILE)", err)
	}
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Op != "chmod" || pe.Path != bin || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	switch {
	case strings.Contains(logged, "checksum does not match"):
		return errors.New("checksum mismatch: the zip is not the one its signed SHA256SUMS lists, and was refused")
	case strings.Contains(logged, "(-1 bytes)"):
		return errors.New("the releases site sent the zip without a Content-Length, which hc-install needs")
	}
	return fmt.Errorf("the download yielded no terraform binary: %w", err)
}

// namedVersions are the versions dir's entries named for a version, in
// the layouts scanVersions reads; their binaries are not run.
func namedVersions(dir string) ([]*version.Version, error) {
	entries, err := versionEntries(dir)
	if err != nil {
		return nil, err
	}
	var out []*version.Version
	for _, ent := range entries {
		// A directory left by an install that stopped before its
		// rename holds no binary: install into it.
		if _, err := os.Lstat(ent.path); err == nil {
			out = append(out, ent.named)
		}
	}
	return out, nil
}

// makeVersionsDir makes dir when it is missing, enterable by the
// sandbox's users.
func makeVersionsDir(dir string) error {
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return os.Chmod(dir, 0o755)
}

// checkReleaseKey refuses a key that is not an armored PGP public key,
// and a private key given by mistake. Its errors never quote the key.
func checkReleaseKey(armored string) error {
	keys, err := openpgp.ReadArmoredKeyRing(strings.NewReader(armored))
	if err != nil {
		return errors.New("not an armored PGP public key (-----BEGIN PGP PUBLIC KEY BLOCK-----)")
	}
	for _, k := range keys {
		if k.PrivateKey != nil {
			return errors.New("holds a private key: give the mirror's public key only")
		}
	}
	return nil
}

// syncFile sets path's mode and writes it to disk, so that a crash after
// the rename cannot leave an empty binary in its place.
func syncFile(path string, mode os.FileMode) error {
	if err := os.Chmod(path, mode); err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// syncDir writes dir's entries to disk.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
