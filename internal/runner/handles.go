package runner

import (
	"io"
	"sync"

	"github.com/hashicorp/terraform-exec/tfexec"
)

// handles keeps terraform-exec handles between sessions: a handle runs
// `version` once, before its first command, and a lane's runs use the same
// dir and binary again and again (two sessions an instance, hundreds of
// instances a lane). A handle is one session's at a time.
type handles struct {
	mu   sync.Mutex
	free map[handleKey][]*tfexec.Terraform
	n    int
}

// handleKey is what a handle is made for: its working dir, the binary it
// starts (the sandbox's launcher when isolated) and the engine's binary.
type handleKey struct{ dir, exec, engine string }

const maxFreeHandles = 64

// take returns a free handle made for k, or makes one.
func (h *handles) take(k handleKey) (*tfexec.Terraform, error) {
	h.mu.Lock()
	if list := h.free[k]; len(list) > 0 {
		tf := list[len(list)-1]
		h.free[k] = list[:len(list)-1]
		if len(h.free[k]) == 0 {
			delete(h.free, k)
		}
		h.n--
		h.mu.Unlock()
		return tf, nil
	}
	h.mu.Unlock()
	return tfexec.NewTerraform(k.dir, k.exec)
}

// give returns a handle its session is done with; past the bound, it is
// dropped.
func (h *handles) give(k handleKey, tf *tfexec.Terraform) {
	tf.SetStdout(io.Discard)
	tf.SetStderr(io.Discard)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n >= maxFreeHandles {
		return
	}
	if h.free == nil {
		h.free = map[handleKey][]*tfexec.Terraform{}
	}
	h.free[k] = append(h.free[k], tf)
	h.n++
}
