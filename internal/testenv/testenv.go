// Package testenv gives privileged tests what they share: root checks,
// throw-away cgroups shaped like kubelet's, workloads started inside them
// from their first syscall, and a real exporter process to query.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
)

// RequireRoot skips the test unless it runs as root; under
// FLIGHTREC_REQUIRE_TOOLS=1 it fails it instead.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root: loads BPF programs into the kernel and creates cgroups (CI runs as root)")
	}
}

// RandomHex returns n random bytes as 2n lowercase hex digits.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// RandomUID returns a random pod UID in canonical form.
func RandomUID() string {
	h := RandomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// KubeletPath is the cgroup of a container as kubelet's systemd driver and
// containerd lay it out.
func KubeletPath(qos, podUID, containerID string) string {
	u := strings.ReplaceAll(podUID, "-", "_")
	return fmt.Sprintf("/kubepods.slice/kubepods-%[1]s.slice/kubepods-%[1]s-pod%[2]s.slice/cri-containerd-%[3]s.scope", qos, u, containerID)
}

// Cgroups is a private subtree of the cgroup2 hierarchy for one test.
type Cgroups struct {
	Mount  string // cgroup2 mount point
	Parent string // the subtree's root, relative to Mount: what --recorder.cgroup-parent gets

	mu    sync.Mutex
	dirs  []string
	procs []*exec.Cmd
}

// NewCgroups creates a fresh subtree and removes it when the test ends,
// after ending the processes the test started in it.
func NewCgroups(t testing.TB) *Cgroups {
	t.Helper()
	RequireRoot(t)
	mount, err := cgroups.FindMount()
	if err != nil {
		t.Fatalf("cgroup2: %v", err)
	}
	c := &Cgroups{Mount: mount, Parent: "/flightrec-test-" + RandomHex(4)}
	if err := os.Mkdir(filepath.Join(mount, c.Parent), 0o755); err != nil {
		t.Fatalf("creating test cgroup: %v", err)
	}
	c.dirs = append(c.dirs, c.Parent)
	t.Cleanup(c.cleanup(t))
	return c
}

func (c *Cgroups) cleanup(t testing.TB) func() {
	return func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, cmd := range c.procs {
			if cmd.ProcessState == nil && cmd.Process != nil {
				_ = cmd.Process.Kill()
				_, _ = cmd.Process.Wait()
			}
		}
		for i := len(c.dirs) - 1; i >= 0; i-- {
			dir := filepath.Join(c.Mount, c.dirs[i])
			// A killed process leaves its cgroup a moment after wait returns.
			deadline := time.Now().Add(5 * time.Second)
			for {
				err := os.Remove(dir)
				if err == nil || errors.Is(err, os.ErrNotExist) {
					break
				}
				if time.Now().After(deadline) {
					t.Errorf("removing cgroup %s: %v", dir, err)
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// Make creates the cgroup rel (and its missing ancestors) below Parent and
// returns its path relative to the mount.
func (c *Cgroups) Make(t testing.TB, rel string) string {
	t.Helper()
	path, err := c.Mkdir(rel)
	if err != nil {
		t.Fatal(err)
	}
	return path
}

// Mkdir is Make for goroutines other than the test's: it returns the error.
func (c *Cgroups) Mkdir(rel string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	path := c.Parent
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		path += "/" + part
		err := os.Mkdir(filepath.Join(c.Mount, path), 0o755)
		if err != nil && !errors.Is(err, os.ErrExist) {
			return "", fmt.Errorf("creating cgroup %s: %w", path, err)
		}
		if err == nil {
			c.dirs = append(c.dirs, path)
		}
	}
	return path, nil
}

// Remove deletes an empty cgroup made by Make, as a container runtime does
// when the container is gone.
func (c *Cgroups) Remove(t testing.TB, path string) {
	t.Helper()
	if err := c.Rmdir(path); err != nil {
		t.Fatal(err)
	}
}

// Rmdir is Remove for goroutines other than the test's: it returns the error.
func (c *Cgroups) Rmdir(path string) error {
	if err := os.Remove(filepath.Join(c.Mount, path)); err != nil {
		return fmt.Errorf("removing cgroup %s: %w", path, err)
	}
	return nil
}

// Command prepares a command that starts inside cgroup path (relative to
// the mount) from its very first instruction, via clone3(CLONE_INTO_CGROUP).
// The cgroup's descriptor stays open until the test ends.
func (c *Cgroups) Command(t testing.TB, path string, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, dir, err := c.command(path, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dir.Close() })
	return cmd
}

func (c *Cgroups) command(path string, name string, args ...string) (*exec.Cmd, *os.File, error) {
	dir, err := os.Open(filepath.Join(c.Mount, path))
	if err != nil {
		return nil, nil, fmt.Errorf("opening cgroup %s: %w", path, err)
	}
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	c.mu.Lock()
	c.procs = append(c.procs, cmd)
	c.mu.Unlock()
	return cmd, dir, nil
}

// Run runs a command in cgroup path and returns its combined output and
// exit code; failing to start it fails the test.
func (c *Cgroups) Run(t testing.TB, path string, cred *syscall.Credential, name string, args ...string) (string, int) {
	t.Helper()
	out, code, err := c.Exec(path, cred, name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out, code
}

// Exec is Run for goroutines other than the test's: it returns the error
// of starting the command. The cgroup's descriptor is closed on return.
func (c *Cgroups) Exec(path string, cred *syscall.Credential, name string, args ...string) (string, int, error) {
	cmd, dir, err := c.command(path, name, args...)
	if err != nil {
		return "", -1, err
	}
	defer dir.Close()
	cmd.SysProcAttr.Credential = cred
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0, nil
	case errors.As(err, &exit):
		return string(out), exit.ExitCode(), nil
	default:
		return "", -1, fmt.Errorf("running %s in %s: %w", name, path, err)
	}
}
