// Package sandbox runs the Terraform of a pull request, which is untrusted
// code (data "external", file(), any provider), away from the bot's own
// secrets.
//
// In uid mode (the bot runs as root, as in the Helm chart) each Terraform
// run gets a slot: a uid and group of its own from a configured range. The
// run's checkout is made readable to the slot's group and its stage
// directory writable by the slot alone; everything else the bot keeps (the
// App key, the database, other checkouts, saved plans, logs) stays root's
// and mode 0700 or 0600. A launcher (the bot's own binary, see Launch)
// drops to the slot's uid before it executes Terraform, and the bot is not
// dumpable, so its environment and memory cannot be read either. When the
// run ends, every process left of the slot is killed and the checkout is
// root's again.
//
// In none mode Terraform runs as the bot's own user: the PR's code can read
// whatever that user can. The README says so; the bot warns at start.
package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Modes.
const (
	ModeAuto = "auto" // uid when the bot is root, else none
	ModeUID  = "uid"
	ModeNone = "none"
)

// Config configures New.
type Config struct {
	// Mode is auto, uid or none.
	Mode string
	// UIDs is the range of uids (and primary gids) for runs, "FIRST-LAST":
	// one per Terraform run at a time. They must belong to nobody else.
	UIDs string
	// GID is the group every slot also has, for what runs share: the
	// provider plugin cache.
	GID int
	// StateDir holds the slots' home and temporary directories.
	StateDir string
}

// Sandbox hands out slots to Terraform runs.
type Sandbox struct {
	mode     string
	gid      int
	stateDir string
	slots    chan int
}

// New sets a sandbox up. In uid mode the bot must be root.
func New(cfg Config) (*Sandbox, error) {
	mode := cfg.Mode
	if mode == "" || mode == ModeAuto {
		mode = ModeNone
		if os.Geteuid() == 0 {
			mode = ModeUID
		}
	}
	s := &Sandbox{mode: mode, gid: cfg.GID, stateDir: cfg.StateDir}
	switch mode {
	case ModeNone:
		return s, nil
	case ModeUID:
	default:
		return nil, fmt.Errorf("sandbox mode %q: want auto, uid or none", cfg.Mode)
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("sandbox mode uid needs the bot to run as root (it drops each Terraform run to a uid of its own); it runs as uid %d", os.Geteuid())
	}
	first, last, err := parseRange(cfg.UIDs)
	if err != nil {
		return nil, err
	}
	if cfg.GID <= 0 {
		return nil, errors.New("sandbox: the shared group id must be positive")
	}
	s.slots = make(chan int, last-first+1)
	for uid := first; uid <= last; uid++ {
		s.slots <- uid
	}
	if err := os.MkdirAll(cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	if err := os.Chmod(cfg.StateDir, 0o711); err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	return s, nil
}

func parseRange(s string) (int, int, error) {
	a, b, ok := strings.Cut(s, "-")
	first, err1 := strconv.Atoi(strings.TrimSpace(a))
	last, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil || first < 1000 || last < first || last-first > 4096 {
		return 0, 0, fmt.Errorf("sandbox uids %q: want FIRST-LAST, at least 1000, at most 4097 of them", s)
	}
	return first, last, nil
}

// Isolated reports whether Terraform runs as users of its own.
func (s *Sandbox) Isolated() bool { return s != nil && s.mode == ModeUID }

// Mode is uid or none.
func (s *Sandbox) Mode() string {
	if s == nil {
		return ModeNone
	}
	return s.mode
}

// GID is the group all slots share (0 when not isolated).
func (s *Sandbox) GID() int {
	if !s.Isolated() {
		return 0
	}
	return s.gid
}

// Lease is one slot, held for one Terraform run.
type Lease struct {
	s *Sandbox
	// UID and GID run Terraform; 0 when not isolated.
	UID, GID int
	// Home and Tmp are the slot's own directories (HOME, TMPDIR).
	Home, Tmp string
	root      string
	released  bool
}

// Acquire takes a free slot, waiting for one, and prepares root (a
// checkout) for it: readable by the slot's group, and writeDir (a stage
// dir inside root) owned by the slot. A checkout holding a hard link is
// refused: git never makes one, and root would otherwise hand a file
// outside the checkout to the slot.
func (s *Sandbox) Acquire(ctx context.Context, root, writeDir string) (*Lease, error) {
	if !s.Isolated() {
		return &Lease{s: s}, nil // Home and Tmp are the caller's to choose
	}
	var uid int
	select {
	case uid = <-s.slots:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a sandbox slot: %w", ctx.Err())
	}
	l := &Lease{s: s, UID: uid, GID: uid, root: root}
	if err := l.prepare(root, writeDir); err != nil {
		l.Release()
		return nil, err
	}
	return l, nil
}

func (l *Lease) prepare(root, writeDir string) error {
	dir := filepath.Join(l.s.stateDir, strconv.Itoa(l.UID))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	l.Home, l.Tmp = filepath.Join(dir, "home"), filepath.Join(dir, "tmp")
	for _, d := range []string{dir, l.Home, l.Tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, l.UID, l.GID); err != nil {
			return err
		}
	}
	if root == "" {
		return nil
	}
	writeDir = filepath.Clean(writeDir)
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := info.Sys().(*syscall.Stat_t); ok && !d.IsDir() && st.Nlink > 1 {
			return fmt.Errorf("the checkout holds a hard link (%s): refused", strings.TrimPrefix(p, root+"/"))
		}
		owner := 0
		if p == writeDir || strings.HasPrefix(p, writeDir+"/") {
			owner = l.UID
		}
		if err := os.Lchown(p, owner, l.GID); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		// The group may read (and enter) what the owner may; the owner
		// keeps write; nobody else gets anything.
		m := info.Mode().Perm() & 0o700
		return os.Chmod(p, m|(m&0o500)>>3)
	})
}

// Release ends the run: the slot's processes are killed, the checkout is
// root's alone again, and the slot is free for another run.
func (l *Lease) Release() error {
	if l == nil || l.released || !l.s.Isolated() {
		return nil
	}
	l.released = true
	defer func() { l.s.slots <- l.UID }()
	if err := killAll(l.UID); err != nil {
		return fmt.Errorf("end sandbox run of uid %d: %w", l.UID, err)
	}
	os.RemoveAll(filepath.Join(l.s.stateDir, strconv.Itoa(l.UID)))
	if l.root == "" {
		return nil
	}
	return filepath.WalkDir(l.root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone; what is left is handled
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		// A hard link the run made points at a file outside: unlink ours,
		// never touch the file.
		if st, ok := info.Sys().(*syscall.Stat_t); ok && !d.IsDir() && st.Nlink > 1 {
			return os.Remove(p)
		}
		if err := os.Lchown(p, 0, 0); err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		return os.Chmod(p, info.Mode().Perm()&0o700)
	})
}

// Reachable checks that any user (a slot) may enter every directory down
// to path and, for a file, execute it.
func Reachable(path string) error {
	for p := path; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("%s (mode %04o) cannot be entered or run by the sandbox's users: let others enter it (chmod o+x), or use another directory", p, st.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
