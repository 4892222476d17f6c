package runtime_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// containerd is a containerd daemon started by the tests, with its own
// configuration, root, state, runc root and socket under Dir: nothing of
// the host's containerd (if any) is used or touched.
type containerd struct {
	Dir    string // everything it keeps is below
	Socket string // its gRPC (and CRI) socket

	cmd       *exec.Cmd
	done      chan struct{}
	crictlCfg string
	// runDirMade tells whether /run/containerd was absent before: the
	// shims keep their sockets in /run/containerd/s whatever the config
	// says, and the directories they leave are removed at the end.
	runDirMade bool
}

// The shared daemon: started by the first test that needs it, stopped by
// TestMain.
var (
	sharedOnce sync.Once
	shared     *containerd
	sharedErr  error
)

// runtimeFor returns the shared containerd, starting it on first use. It
// skips the test (fails it under FLIGHTREC_REQUIRE_TOOLS=1) when root or a
// tool is missing.
func runtimeFor(t *testing.T) *containerd {
	t.Helper()
	testenv.RequireRoot(t)
	const why = "test/runtime runs containers with containerd and runc, driven over CRI like a kubelet"
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "runc", "ctr", "crictl"} {
		testenv.RequireTool(t, tool, why)
	}
	busybox := testenv.RequireTool(t, "busybox", "the test images are made of the static busybox (busybox-static)")
	sharedOnce.Do(func() { shared, sharedErr = startContainerd(busybox) })
	if sharedErr != nil {
		t.Fatalf("starting containerd: %v", sharedErr)
	}
	return shared
}

// configTemplate is containerd's configuration (version 2): the CRI plugin
// with runc under the cgroupfs driver (no systemd here), host-network pods
// only (empty CNI directories), and the test's pause image as the sandbox.
// restrict_oom_score_adj: root here lacks CAP_SYS_RESOURCE and could not
// lower a container's oom_score_adj (runc then fails with "can't get final
// child's PID from pipe: EOF"). The unprivileged port and ICMP options would
// write sysctls and stay off.
const configTemplate = `version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = %[3]q

[ttrpc]
  address = %[4]q

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  disable_apparmor = true
  enable_unprivileged_ports = false
  enable_unprivileged_icmp = false

[plugins."io.containerd.grpc.v1.cri".containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  SystemdCgroup = false
  Root = %[7]q

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = %[8]q
  conf_dir = %[9]q
`

// startContainerd writes a configuration under a new temporary directory,
// starts containerd with it, waits for its CRI service and imports the test
// images.
func startContainerd(busybox string) (*containerd, error) {
	dir, err := os.MkdirTemp("", "flightrec-containerd-")
	if err != nil {
		return nil, fmt.Errorf("temp dir: %w", err)
	}
	c := &containerd{Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), done: make(chan struct{})}
	if _, err := os.Stat("/run/containerd"); errors.Is(err, os.ErrNotExist) {
		c.runDirMade = true
	}
	if err := c.start(busybox); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *containerd) start(busybox string) error {
	sub := func(name string) string { return filepath.Join(c.Dir, name) }
	for _, d := range []string{"root", "state", "runc", "opt", "cni-bin", "cni-conf", "images", "logs"} {
		if err := os.Mkdir(sub(d), 0o755); err != nil {
			return fmt.Errorf("containerd dirs: %w", err)
		}
	}
	cfg := fmt.Sprintf(configTemplate, sub("root"), sub("state"), c.Socket, c.Socket+".ttrpc", sub("opt"),
		pauseImage, sub("runc"), sub("cni-bin"), sub("cni-conf"))
	cfgPath := sub("config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("containerd config: %w", err)
	}
	// crictl reads /etc/crictl.yaml unless told otherwise: an empty file of
	// our own keeps the host's out.
	c.crictlCfg = sub("crictl.yaml")
	if err := os.WriteFile(c.crictlCfg, nil, 0o644); err != nil {
		return fmt.Errorf("crictl config: %w", err)
	}
	logFile, err := os.Create(sub("containerd.log"))
	if err != nil {
		return fmt.Errorf("containerd log: %w", err)
	}
	c.cmd = exec.Command("containerd", "--config", cfgPath, "--log-level", "info")
	c.cmd.Stdout, c.cmd.Stderr = logFile, logFile
	// Its own process group, so that a signal meant for the test run does
	// not reach it before the cleanup does.
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("starting containerd: %w", err)
	}
	go func() { _ = c.cmd.Wait(); logFile.Close(); close(c.done) }()
	if err := c.waitReady(30 * time.Second); err != nil {
		return err
	}
	archives, err := buildImages(sub("images"), busybox)
	if err != nil {
		return err
	}
	for _, a := range archives {
		if out, err := exec.Command("ctr", "-a", c.Socket, "-n", "k8s.io", "images", "import", a).CombinedOutput(); err != nil {
			return fmt.Errorf("ctr images import %s: %v\n%s", a, err, out)
		}
	}
	return nil
}

// waitReady waits until containerd answers on its socket and its CRI
// plugin reports the runtime ready.
func (c *containerd) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-c.done:
			return fmt.Errorf("containerd exited at start:\n%s", c.Log())
		default:
		}
		if conn, err := net.Dial("unix", c.Socket); err == nil {
			conn.Close()
			if _, last = c.Crictl("info"); last == nil {
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd not ready after %v: %v\n%s", timeout, last, c.Log())
}

// Log is what containerd has logged so far.
func (c *containerd) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "containerd.log"))
	return string(b)
}

// Endpoint is the CRI endpoint of the daemon, as kubelet and the exporter
// name it.
func (c *containerd) Endpoint() string { return "unix://" + c.Socket }

// Crictl runs crictl against the daemon and returns its standard output.
func (c *containerd) Crictl(args ...string) (string, error) {
	argv := append([]string{"--config", c.crictlCfg, "-r", c.Endpoint(), "-i", c.Endpoint(), "-t", "30s"}, args...)
	cmd := exec.Command("crictl", argv...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("crictl %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// MustCrictl is Crictl failing the test on error.
func (c *containerd) MustCrictl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := c.Crictl(args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// stop removes every pod left, ends containerd, any shim it started and
// their mounts, and removes its directory. It returns what could not be
// cleaned up.
func (c *containerd) stop() []error {
	var errs []error
	if c.cmd != nil && c.cmd.Process != nil {
		select {
		case <-c.done:
		default:
			if out, err := c.Crictl("pods", "-q"); err == nil {
				for _, id := range strings.Fields(out) {
					_, _ = c.Crictl("stopp", id)
					if _, err := c.Crictl("rmp", "-f", id); err != nil {
						errs = append(errs, err)
					}
				}
			}
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-c.done:
			case <-time.After(10 * time.Second):
				_ = c.cmd.Process.Kill()
				<-c.done
			}
		}
	}
	// The shims outlive containerd by design; after rmp they have ended.
	// Any still running was started by this containerd (its address is in
	// the shim's command line) and is ended by its pid.
	for _, pid := range c.shims() {
		errs = append(errs, fmt.Errorf("containerd shim pid %d still running after its pods were removed: killed", pid))
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	for _, m := range mountsBelow(c.Dir) {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmounting %s: %w", m, err))
		}
	}
	if err := os.RemoveAll(c.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", c.Dir, err))
	}
	if c.runDirMade {
		// Empty directories only: a shim of another containerd may use them.
		_ = os.Remove("/run/containerd/s")
		_ = os.Remove("/run/containerd")
	}
	return errs
}

// shims lists the pids of the running processes whose command line names
// this daemon's socket: the shims it started.
func (c *containerd) shims() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		if len(args) > 0 && strings.HasSuffix(args[0], "containerd-shim-runc-v2") && strings.Contains(string(cmdline), c.Socket) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// mountsBelow lists the mount points at or below dir, deepest first.
func mountsBelow(dir string) []string {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeOctal(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeOctal undoes mountinfo's \040-style escapes.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v int
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &v); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
