package sandbox

import (
	"encoding/json"
	"fmt"
	"os"
)

// Environment variables that start the bot's binary as one of the
// sandbox's helpers instead of the bot (see MaybeLaunch). Terraform never
// sees them.
const (
	launchEnv = "STAGEBOT_SANDBOX_LAUNCH" // the launcher, outside the run
	initEnv   = "STAGEBOT_SANDBOX_INIT"   // the run's PID 1, inside it
	killEnv   = "STAGEBOT_SANDBOX_KILL"   // kill(-1) as a slot's uid
)

// spec is what the launcher and the run's init need to know.
type spec struct {
	UID, GID, Shared int
	// Bin is the program to run as UID; empty for a probe, which only
	// checks that the run's namespaces can be set up.
	Bin string
	// Namespaces gives the run its own PID, mount and IPC namespaces, with
	// the init as PID 1; Net, its own network namespace too, whose only
	// way out is the egress proxy.
	Namespaces, Net bool
	// Cgroup is the cgroup (v2) directory the run starts in; empty for
	// none.
	Cgroup string
	// Proxy is the Unix socket of the lease's egress proxy; ProxyPort,
	// where the run finds it on its loopback; Forward, loopback ports the
	// run reaches through it (a local state backend, a sidecar).
	Proxy     string
	ProxyPort int
	Forward   []int
}

func (sp spec) encode() string {
	b, _ := json.Marshal(sp)
	return string(b)
}

// takeSpec reads and removes the spec in variable name.
func takeSpec(name string) (spec, error) {
	var sp spec
	raw := os.Getenv(name)
	os.Unsetenv(name)
	if err := json.Unmarshal([]byte(raw), &sp); err != nil {
		return sp, fmt.Errorf("malformed %s: %w", name, err)
	}
	if sp.UID <= 0 || sp.GID <= 0 || sp.Shared <= 0 {
		return sp, fmt.Errorf("malformed %s: uid, gid and shared group must be positive", name)
	}
	return sp, nil
}
