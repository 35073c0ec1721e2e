package runner

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Lane returns copy i (from 1) of the checkout at root, made once: runs in
// different lanes go on side by side, since a sandboxed run has its
// checkout to itself. Lane 0 is root.
func (r *Runner) Lane(root string, i int) (string, error) {
	if i == 0 {
		return root, nil
	}
	dest := fmt.Sprintf("%s.lane%d", root, i)
	if _, err := os.Stat(filepath.Join(dest, ".stagebot-checkout")); err == nil {
		return dest, nil
	}
	tmp := dest + ".tmp"
	os.RemoveAll(tmp)
	if err := copyTree(root, tmp); err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("copy the checkout for a parallel run: %w", err)
	}
	os.RemoveAll(dest)
	if err := os.Rename(tmp, dest); err != nil {
		return "", err
	}
	return dest, nil
}

// copyTree copies a checkout: directories, regular files and symlinks (a
// checkout holds nothing else, and its links were checked). What runs left
// behind (.terraform, plan files) is not copied.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".terraform" {
			return filepath.SkipDir
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.Mkdir(target, 0o700)
		case d.Type()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(link, target)
		case d.Type().IsRegular():
			if d.Name() == "stagebot.tfplan" {
				return nil
			}
			return copyFile(p, target)
		}
		return fmt.Errorf("%s is not a file, directory or symlink", rel)
	})
}

func copyFile(src, dst string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, info.Mode().Perm()&0o700)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
