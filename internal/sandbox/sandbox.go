// Package sandbox runs the Terraform of a pull request, which is untrusted
// code (data "external", file(), any provider), away from the bot's own
// secrets, from other runs, and from the network.
//
// In uid mode (the bot runs as root, as in the Helm chart) each Terraform
// run gets a slot: a uid and group of its own from a configured range. The
// run's checkout is made readable to the slot's group and its stage
// directory writable by the slot alone; everything else the bot keeps (the
// App key, the database, other checkouts, saved plans, logs, the shared
// provider cache) stays root's and cannot be written, mostly not read. A
// launcher (the bot's own binary, see MaybeLaunch) starts the run in PID,
// mount, IPC and network namespaces of its own, in a cgroup of its own,
// with an init as PID 1 that reaps; the init drops to the slot's uid
// before it executes Terraform. The run's only way out is the egress proxy
// of its lease, which lets it reach the hosts of its allowlist. When the
// run ends, its cgroup is killed and the slot is proven empty before the
// uid returns to the pool; a uid that cannot be is quarantined.
//
// Where the host refuses namespaces or cgroups, uid mode keeps what the
// uid gives (see Features). In none mode Terraform runs as the bot's own
// user: the PR's code can read whatever that user can.
package sandbox

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
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
	// GID is the group every slot also has.
	GID int
	// StateDir holds the slots' home, temporary and cache directories.
	StateDir string
	// Launcher is the binary that starts runs: one whose main calls
	// MaybeLaunch first (default: this process's own).
	Launcher string
	// Log gets what an operator must know: a uid quarantined.
	Log *slog.Logger
	// MaxPIDs and MaxMemory (bytes) bound each run's cgroup, where the
	// host's cgroup v2 has the pids and memory controllers (defaults 4096
	// and 4 GiB; -1: no limit).
	MaxPIDs   int
	MaxMemory int64
}

// Features says what isolates a run besides its uid.
type Features struct {
	// PID: PID, mount and IPC namespaces of its own, with an init that
	// reaps; the run ends with its init, whatever it forked.
	PID bool
	// Net: a network namespace whose only way out is the egress proxy.
	Net bool
	// Cgroup is the cgroup v2 directory under which each run gets one of
	// its own; empty for none.
	Cgroup string
	// Missing says why what is off is off.
	Missing []string
}

// Sandbox hands out slots to Terraform runs.
type Sandbox struct {
	mode     string
	gid      int
	stateDir string
	launcher string
	log      *slog.Logger
	features Features
	slots    chan int
	total    int
	maxPIDs  int
	maxMem   int64

	mu          sync.Mutex
	quarantined map[int]string
	exhausted   chan struct{} // closed when every uid is quarantined
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
	s := &Sandbox{mode: mode, gid: cfg.GID, stateDir: cfg.StateDir, log: cfg.Log,
		quarantined: map[int]string{}, exhausted: make(chan struct{}),
		maxPIDs: cmp.Or(cfg.MaxPIDs, 4096), maxMem: cmp.Or(cfg.MaxMemory, 4<<30)}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
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
	if s.launcher = cfg.Launcher; s.launcher == "" {
		if s.launcher, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("sandbox launcher: %w", err)
		}
	}
	for _, d := range []struct {
		path string
		mode os.FileMode
	}{{cfg.StateDir, 0o711}, {s.egressDir(), 0o700}} {
		if err := os.MkdirAll(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
		if err := os.Chmod(d.path, d.mode); err != nil {
			return nil, fmt.Errorf("sandbox: %w", err)
		}
	}
	s.features = s.probe()
	s.total = last - first + 1
	s.slots = make(chan int, s.total)
	for uid := first; uid <= last; uid++ {
		// A slot a bot before this one left busy is emptied first.
		if err := s.empty(uid, s.cgroupOf(uid)); err != nil {
			s.quarantine(uid, err)
			continue
		}
		s.slots <- uid
	}
	if len(s.slots) == 0 {
		return nil, fmt.Errorf("sandbox: none of the uids %s can be proven free of processes", cfg.UIDs)
	}
	return s, nil
}

// probe finds out which namespaces the host lets the launcher make, and
// whether runs can have cgroups.
func (s *Sandbox) probe() Features {
	var f Features
	base, err := cgroupBase()
	if err == nil {
		f.Cgroup = base
		if m := limitsMissing(base); len(m) > 0 {
			f.Missing = append(f.Missing, "cgroup limits: the cgroup v2 hierarchy has no "+strings.Join(m, " or ")+" controller for runs, so a run's processes and memory are bounded only by the host's")
		}
	} else {
		f.Missing = append(f.Missing, "cgroup: "+err.Error())
	}
	try := func(net bool) error {
		cmd := exec.Command(s.launcher)
		cmd.Env = []string{launchEnv + "=" + spec{UID: 1, GID: 1, Shared: 1, Namespaces: true, Net: net}.encode()}
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	switch err := try(true); {
	case err == nil:
		f.PID, f.Net = true, true
	default:
		f.Missing = append(f.Missing, "network namespace: "+err.Error())
		if err := try(false); err != nil {
			f.Missing = append(f.Missing, "PID namespace: "+err.Error())
		} else {
			f.PID = true
		}
	}
	return f
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

// Features says what isolates a run besides its uid (nothing when not
// isolated).
func (s *Sandbox) Features() Features {
	if !s.Isolated() {
		return Features{}
	}
	return s.features
}

// GID is the group all slots share (0 when not isolated).
func (s *Sandbox) GID() int {
	if !s.Isolated() {
		return 0
	}
	return s.gid
}

// Quarantined is how many uids are never handed out again, because their
// processes could not be proven gone.
func (s *Sandbox) Quarantined() int {
	if s == nil {
		return 0
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.quarantined)
}

// quarantine takes uid out of the pool for good.
func (s *Sandbox) quarantine(uid int, why error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, done := s.quarantined[uid]; done {
		return
	}
	s.quarantined[uid] = why.Error()
	s.log.Error("sandbox: uid quarantined, never handed out again: its processes could not be proven gone", "uid", uid, "reason", why.Error())
	if s.total > 0 && len(s.quarantined) >= s.total {
		close(s.exhausted)
	}
}

func (s *Sandbox) cgroupOf(uid int) string {
	if s.features.Cgroup == "" {
		return ""
	}
	return filepath.Join(s.features.Cgroup, strconv.Itoa(uid))
}

func (s *Sandbox) egressDir() string { return filepath.Join(s.stateDir, "egress") }

// Spec is what one run may touch.
type Spec struct {
	// Root is the run's checkout, readable by the slot's group; WriteDir
	// (a stage dir in it) is the slot's. Root may be empty.
	Root, WriteDir string
	// Egress is the allowlist of the hosts the run may reach (see
	// Allowed); Log gets a line for each connection refused.
	Egress []string
	Log    io.Writer
}

// Lease is one slot, held for one Terraform run.
type Lease struct {
	s *Sandbox
	// UID and GID run Terraform; 0 when not isolated.
	UID, GID int
	// Home, Tmp and Cache are the slot's own directories (HOME, TMPDIR,
	// and the provider plugin cache it may write).
	Home, Tmp, Cache string
	root             string
	cgroup           string
	proxy            *proxy
	released         bool
}

// Acquire takes a free slot, waiting for one, proves it empty and prepares
// the run of sp for it. A slot found busy is quarantined and the next one
// taken.
func (s *Sandbox) Acquire(ctx context.Context, sp Spec) (*Lease, error) {
	if !s.Isolated() {
		return &Lease{s: s}, nil // Home and Tmp are the caller's to choose
	}
	for {
		var uid int
		select {
		case uid = <-s.slots:
		case <-s.exhausted:
			return nil, errors.New("sandbox: every uid is quarantined (see the bot's log); restart the bot once their processes are gone")
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for a sandbox slot: %w", ctx.Err())
		}
		if err := s.idle(uid); err != nil {
			s.quarantine(uid, err)
			continue
		}
		l := &Lease{s: s, UID: uid, GID: uid, root: sp.Root, cgroup: s.cgroupOf(uid)}
		if err := l.prepare(sp); err != nil {
			l.Release()
			return nil, err
		}
		return l, nil
	}
}

// idle checks that nothing runs as uid or in its cgroup.
func (s *Sandbox) idle(uid int) error {
	pids, err := processesOf(uid)
	if err != nil {
		return err
	}
	if len(pids) > 0 {
		return fmt.Errorf("uid %d runs processes %v while free", uid, pids)
	}
	if cg := s.cgroupOf(uid); cg != "" {
		if busy, err := cgroupPopulated(cg); err == nil && busy {
			return fmt.Errorf("the cgroup of uid %d has processes while free", uid)
		}
	}
	return nil
}

func (l *Lease) prepare(sp Spec) error {
	dir := filepath.Join(l.s.stateDir, strconv.Itoa(l.UID))
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	l.Home, l.Tmp, l.Cache = filepath.Join(dir, "home"), filepath.Join(dir, "tmp"), filepath.Join(dir, "cache")
	for _, d := range []string{dir, l.Home, l.Tmp, l.Cache} {
		if err := os.Mkdir(d, 0o700); err != nil {
			return err
		}
		if err := os.Chown(d, l.UID, l.GID); err != nil {
			return err
		}
	}
	if l.cgroup != "" {
		if err := os.Mkdir(l.cgroup, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("sandbox cgroup: %w", err)
		}
		if err := limit(l.cgroup, l.s.maxPIDs, l.s.maxMem); err != nil {
			return err
		}
	}
	if l.s.features.Net {
		p, err := startProxy(filepath.Join(l.s.egressDir(), strconv.Itoa(l.UID)+".sock"), sp.Egress, sp.Log)
		if err != nil {
			return err
		}
		l.proxy = p
	}
	if sp.Root == "" {
		return nil
	}
	return shareCheckout(sp.Root, sp.WriteDir, l.UID, l.GID)
}

// Release ends the run: the slot's processes are killed and proven gone,
// the checkout is root's alone again, and the slot is free for another
// run. A slot whose processes survive is quarantined, not freed.
func (l *Lease) Release() error {
	if l == nil || l.released || !l.s.Isolated() {
		return nil
	}
	l.released = true
	if l.proxy != nil {
		l.proxy.close()
	}
	err := l.s.empty(l.UID, l.cgroup)
	if err != nil {
		l.s.quarantine(l.UID, err)
	} else {
		removeFilesOf(l.UID)
		if l.cgroup != "" {
			os.Remove(l.cgroup)
		}
		defer func() { l.s.slots <- l.UID }()
	}
	os.RemoveAll(filepath.Join(l.s.stateDir, strconv.Itoa(l.UID)))
	if l.root != "" {
		err = errors.Join(err, reclaimCheckout(l.root))
	}
	if err != nil {
		return fmt.Errorf("end sandbox run of uid %d: %w", l.UID, err)
	}
	return nil
}
