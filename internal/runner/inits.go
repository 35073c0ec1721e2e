package runner

import (
	"encoding/json"
	"errors"
	"io"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// A lane plans the instances of a stage one after another in one checkout,
// with one code and one lock file: they differ only in their backend
// configuration (the state each reads). The first plan inits (modules,
// providers, backend); each later one switches the backend the way
// Terraform and OpenTofu themselves keep it between commands: the working
// directory's saved backend configuration (.terraform/terraform.tfstate),
// which plan uses as long as the literal backend block is unchanged (its
// hash, which -backend-config values are not part of). Only the values
// the instance sets with backend_config are replaced, and only where init
// kept them as given; anything else, and any plan that fails after a
// switch, gets a full init.

// backendStateFile is where init keeps a working directory's backend
// configuration.
const backendStateFile = "terraform.tfstate"

// sharedInits remembers, by stage dir, what init wrote there; bounded, so
// that checkouts gone long ago are forgotten.
type sharedInits struct {
	mu    sync.Mutex
	byDir map[string]initRecord
}

const maxSharedInits = 256

// initRecord is one init: the engine and backend configuration it ran
// with, and the saved backend configuration it wrote (read right after
// it, before any plan ran).
type initRecord struct {
	bin    string
	config map[string]string
	saved  []byte
}

// remember records the init just run for run with bin.
func (s *sharedInits) remember(run Run, bin string, config map[string]string) {
	saved, err := readSaved(filepath.Join(run.Dir, ".terraform", backendStateFile))
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.byDir, run.Dir)
		return
	}
	if s.byDir == nil {
		s.byDir = map[string]initRecord{}
	}
	if len(s.byDir) >= maxSharedInits {
		for k := range s.byDir {
			delete(s.byDir, k)
			break
		}
	}
	s.byDir[run.Dir] = initRecord{bin: bin, config: maps.Clone(config), saved: saved}
}

// forget drops what was recorded of dir.
func (s *sharedInits) forget(dir string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byDir, dir)
}

// switchTo writes run's backend configuration (config, resolved) into the
// saved one of an earlier init of the same dir with bin, owned by uid and
// gid (the run's sandbox user, who must read and rewrite it; 0: the
// bot's), and reports whether it did: false means init must run.
func (s *sharedInits) switchTo(run Run, bin string, config map[string]string, uid, gid int) bool {
	s.mu.Lock()
	rec, ok := s.byDir[run.Dir]
	s.mu.Unlock()
	if !ok || rec.bin != bin || !sameKeys(rec.config, config) {
		return false
	}
	saved, err := switchBackend(rec.saved, rec.config, config)
	if err != nil {
		return false
	}
	data := filepath.Join(run.Dir, ".terraform")
	if st, err := os.Lstat(data); err != nil || !st.IsDir() {
		return false
	}
	// What a run left in the data dir is replaced, never followed.
	file := filepath.Join(data, backendStateFile)
	os.Remove(file)
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return false
	}
	_, err = f.Write(saved)
	if err == nil && uid != 0 {
		err = f.Chown(uid, gid)
	}
	return errors.Join(err, f.Close()) == nil
}

// readSaved reads a saved backend configuration: a regular file, never
// followed through a link a run left, and small.
func readSaved(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20+1))
	if err == nil && len(b) > 1<<20 {
		err = errors.New("too large")
	}
	return b, err
}

func sameKeys(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if _, ok := b[k]; !ok {
			return false
		}
	}
	return true
}

// switchBackend is saved (a backend configuration init wrote with the
// values from) with the values of to instead. Every other field is kept
// as it is; a value init did not keep as the string it was given is an
// error.
func switchBackend(saved []byte, from, to map[string]string) ([]byte, error) {
	var file map[string]json.RawMessage
	if err := json.Unmarshal(saved, &file); err != nil {
		return nil, err
	}
	var backend map[string]json.RawMessage
	if err := json.Unmarshal(file["backend"], &backend); err != nil || backend == nil {
		return nil, errors.New("no saved backend")
	}
	var config map[string]json.RawMessage
	if err := json.Unmarshal(backend["config"], &config); err != nil || config == nil {
		return nil, errors.New("no saved backend configuration")
	}
	for k, v := range to {
		var kept string
		if err := json.Unmarshal(config[k], &kept); err != nil || kept != from[k] {
			return nil, errors.New("the saved backend configuration is not as given")
		}
		config[k], _ = json.Marshal(v)
	}
	var err error
	if backend["config"], err = json.Marshal(config); err != nil {
		return nil, err
	}
	if file["backend"], err = json.Marshal(backend); err != nil {
		return nil, err
	}
	return json.MarshalIndent(file, "", "  ")
}
