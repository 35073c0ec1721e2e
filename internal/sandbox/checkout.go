package sandbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// shareCheckout makes root (a checkout) readable by the slot's group, and
// writeDir (a stage dir inside root) the slot's. A checkout holding a hard
// link is refused: git never makes one, and root would otherwise hand a
// file outside the checkout to the slot.
func shareCheckout(root, writeDir string, uid, gid int) error {
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
			owner = uid
		}
		if err := os.Lchown(p, owner, gid); err != nil {
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

// reclaimCheckout makes root the bot's alone again.
func reclaimCheckout(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // gone; what is left is handled
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		// A hard link the run made points at a file outside: unlink ours,
		// never touch the file. A FIFO, socket or device it made would
		// block or mislead the bot, which reads the checkout as root.
		if st, ok := info.Sys().(*syscall.Stat_t); ok && !d.IsDir() && st.Nlink > 1 {
			return os.Remove(p)
		}
		if t := d.Type(); !t.IsRegular() && !t.IsDir() && t&fs.ModeSymlink == 0 {
			return os.Remove(p)
		}
		// A link leading out of the checkout, or to nothing, is no link
		// git gave it (those were checked): the run made it, for the bot
		// to follow as root later (a chart's file, a module).
		if d.Type()&fs.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(p); err != nil || (target != root && !strings.HasPrefix(target, root+"/")) {
				return os.Remove(p)
			}
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
			return fmt.Errorf("%s (mode %04o) cannot be entered or run by the sandbox's users", p, st.Mode().Perm())
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}
