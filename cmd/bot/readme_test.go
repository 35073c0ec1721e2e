package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// readmeBlocks are the README's sh blocks, each as its lines without the
// indentation of a list item.
func readmeBlocks(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?ms)^( *)```sh\n(.*?)^ *```").FindAllStringSubmatch(string(b), -1) {
		lines := strings.Split(strings.TrimRight(m[2], "\n"), "\n")
		for i, l := range lines {
			lines[i] = strings.TrimPrefix(l, m[1])
		}
		blocks = append(blocks, strings.Join(lines, "\n"))
	}
	return blocks
}

// cleanClone is a clone of this repository's committed tree, as a fresh
// machine has it.
func cleanClone(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "stagebot")
	if out, err := exec.Command("git", "clone", "-q", "--no-hardlinks", "../..", dir).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v %s", err, out)
	}
	return dir
}

// TestReadmeCommands runs each command of the README as it is written,
// in a clean clone (the settings a test machine needs, a free port and
// the Terraform to use, come through the environment), or names the test
// that runs it and says why it cannot run here. A command added to the
// README without a test fails here.
func TestReadmeCommands(t *testing.T) {
	elsewhere := map[string]string{
		"scripts/test":                      "CI (.ci/run) runs it, and this test inside it",
		"docker build":                      "no container engine on test machines; TestDockerBuildArgs checks the build arguments, .dockerignore and the user",
		"kubectl create namespace stagebot": "no cluster here; internal/kube TestBotChartReadmeInstall renders the chart with this block's --set values",
		"STAGEBOT_PLAN_ENV=":                "settings, not a command: internal/config parses this form (TestLoadCredentials)",
	}
	clone := ""
	for _, block := range readmeBlocks(t) {
		first := strings.SplitN(block, "\n", 2)[0]
		if why := matchPrefix(elsewhere, first); why != "" {
			t.Logf("%q: %s", first, why)
			continue
		}
		if clone == "" {
			clone = cleanClone(t)
		}
		switch {
		case block == "go run ./cmd/bot demo":
			t.Run("demo", func(t *testing.T) { readmeDemo(t, clone, block) })
		case block == "go run ./cmd/bot plan --repo examples/quickstart":
			t.Run("plan", func(t *testing.T) {
				out := readmeRun(t, clone, block, "")
				if !strings.Contains(out, "stagebot plan: `infrastructure`") || !strings.Contains(out, "Waiting for `infrastructure` to be applied") {
					t.Errorf("output:\n%s", out)
				}
			})
		case block == "go run ./cmd/bot apply --repo examples/quickstart":
			t.Run("apply", func(t *testing.T) {
				out := readmeRun(t, clone, block, "yes\nyes\nyes\n")
				if strings.Count(out, "✅ stagebot applied") != 3 {
					t.Errorf("want three stages applied:\n%s", out)
				}
			})
		case strings.HasPrefix(block, "mkdir -p data && openssl genrsa"):
			t.Run("serve", func(t *testing.T) { readmeServe(t, clone, block) })
		default:
			t.Errorf("README command without a test:\n%s", block)
		}
	}
}

func matchPrefix(m map[string]string, s string) string {
	for k, v := range m {
		if strings.HasPrefix(s, k) {
			return v
		}
	}
	return ""
}

// readmeEnv is what a test machine adds to a README command: where its
// data goes, the Terraform it uses, and the Go caches it shares.
func readmeEnv(t *testing.T) []string {
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "STAGEBOT_TERRAFORM_BIN=" + terraformBin(),
		"GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE"), "GOFLAGS=-mod=mod", "GOPROXY=" + goEnv(t, "GOPROXY"), "GOTOOLCHAIN=local",
	}
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// readmeRun runs block in dir with stdin and returns its output; it must
// succeed.
func readmeRun(t *testing.T, dir, block, stdin string) string {
	t.Helper()
	cmd := exec.Command("sh", "-ec", block)
	cmd.Dir = dir
	cmd.Env = append(readmeEnv(t), "STAGEBOT_DATA_DIR="+t.TempDir())
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", block, err, out)
	}
	return string(out)
}

// readmeServe runs the README's serve command. As root from a directory
// the sandbox's users cannot enter it must refuse and name the fix, which
// is then applied as the README says (STAGEBOT_SANDBOX=none).
func readmeServe(t *testing.T, dir, block string) {
	addr := freeAddr(t)
	start := func(extra ...string) (*strings.Builder, <-chan struct{}) {
		cmd := exec.Command("sh", "-ec", block)
		cmd.Dir = dir
		cmd.Env = append(append(readmeEnv(t), "STAGEBOT_LISTEN="+addr), extra...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); <-exited })
		return &out, exited
	}
	out, exited := start()
	if ready(t, addr, exited) {
		return
	}
	if os.Geteuid() != 0 || !strings.Contains(out.String(), "STAGEBOT_SANDBOX=none") {
		t.Fatalf("bot serve did not start:\n%s", out)
	}
	t.Logf("as root in %s the bot refused, as the README says; with STAGEBOT_SANDBOX=none:", dir)
	out, exited = start("STAGEBOT_SANDBOX=none")
	if !ready(t, addr, exited) {
		t.Fatalf("bot serve did not start:\n%s", out)
	}
}

// ready waits for /readyz at addr, or for the process to end.
func ready(t *testing.T, addr string, exited <-chan struct{}) bool {
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); {
		select {
		case <-exited:
			return false
		case <-time.After(300 * time.Millisecond):
		}
		if resp, err := http.Get("http://" + addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return true
			}
		}
	}
	t.Fatal("not ready within 3 minutes")
	return false
}

// readmeDemo runs `bot demo` as the README says (its page moved to a free
// port) and reads the pull request's page until the plan is on it.
func readmeDemo(t *testing.T, dir, block string) {
	cmd := exec.Command("sh", "-ec", "exec "+block+" -listen 127.0.0.1:0")
	cmd.Dir = dir
	cmd.Env = readmeEnv(t)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); cmd.Wait() })
	pull := ""
	sc := bufio.NewScanner(stdout)
	for pull == "" && sc.Scan() {
		if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "The pull request:"); ok {
			pull = strings.TrimSpace(v)
		}
	}
	if pull == "" {
		t.Fatal("bot demo printed no pull request")
	}
	go io.Copy(io.Discard, stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, pull, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("the pull request's page: %v", err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "stagebot plan: <code>infrastructure</code>") {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestDockerBuildArgs checks the README's image build against
// deploy/Dockerfile where no container engine runs it: each build argument
// it passes is one the Dockerfile takes into the binary, the build context
// leaves out the data dir, keys and env files, and the image's user is the
// one the README names.
func TestDockerBuildArgs(t *testing.T) {
	var build string
	for _, b := range readmeBlocks(t) {
		if strings.HasPrefix(b, "docker build") {
			build = b
		}
	}
	dockerfile, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	args := regexp.MustCompile(`--build-arg (\w+)=`).FindAllStringSubmatch(build, -1)
	if len(args) != 2 {
		t.Fatalf("the README's build passes %d build arguments, want VERSION and COMMIT:\n%s", len(args), build)
	}
	for _, a := range args {
		if !strings.Contains(string(dockerfile), "\nARG "+a[1]+"=") || !strings.Contains(string(dockerfile), "-X main."+strings.ToLower(a[1])+"=${"+a[1]+"}") {
			t.Errorf("deploy/Dockerfile does not build %s into the binary", a[1])
		}
	}
	ignore, err := os.ReadFile("../../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"data/", "*.pem", "*.env", "**/*.tfstate"} {
		if !strings.Contains("\n"+string(ignore)+"\n", "\n"+want+"\n") {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
	readme, _ := os.ReadFile("../../README.md")
	if !strings.Contains(string(dockerfile), "\nUSER 10001:10001\n") || !strings.Contains(string(readme), "The image's default user is 10001") {
		t.Error("the README and the Dockerfile disagree on the image's user")
	}
}
