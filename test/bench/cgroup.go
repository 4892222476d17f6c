package main

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
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
)

// cgroupTree is the harness's own corner of the cgroup2 hierarchy:
//
//	/flightrec-bench-PID/           base, removed at the end
//	/flightrec-bench-PID/tracked/   the exporter's --recorder.cgroup-parent
//	/flightrec-bench-PID/tracked/W  one container per workload W
//	/flightrec-bench-PID/outside/   a sibling of the parent: never recorded
type cgroupTree struct {
	mount   string // cgroup2 mount point
	base    string // path relative to mount, "/flightrec-bench-PID"
	created []string
}

// newCgroupTree creates the base, tracked-parent and outside cgroups.
func newCgroupTree() (*cgroupTree, error) {
	mount, err := cgroups.FindMount()
	if err != nil {
		return nil, err
	}
	t := &cgroupTree{mount: mount, base: fmt.Sprintf("/flightrec-bench-%d", os.Getpid())}
	for _, p := range []string{t.base, t.parent(), t.outside()} {
		if err := t.create(p); err != nil {
			t.remove()
			return nil, err
		}
	}
	return t, nil
}

// parent is the exporter's --recorder.cgroup-parent.
func (t *cgroupTree) parent() string { return t.base + "/tracked" }

// outside is a cgroup that is not below the parent.
func (t *cgroupTree) outside() string { return t.base + "/outside" }

// container is the path of the tracked container cgroup of a workload.
func (t *cgroupTree) container(name string) string { return t.parent() + "/" + name }

func (t *cgroupTree) dir(p string) string { return filepath.Join(t.mount, p) }

// create makes the cgroup at path p (relative to the mount) if it is not
// there yet, and remembers it for remove.
func (t *cgroupTree) create(p string) error {
	err := os.Mkdir(t.dir(p), 0o755)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating cgroup %s: %w", p, err)
	}
	t.created = append(t.created, p)
	return nil
}

// open creates cgroup p if needed and returns a directory fd for
// SysProcAttr.CgroupFD. The caller closes it.
func (t *cgroupTree) open(p string) (*os.File, error) {
	if err := t.create(p); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(t.dir(p), os.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		return nil, fmt.Errorf("opening cgroup %s: %w", p, err)
	}
	return f, nil
}

// cpuUsec is the CPU time used by every process that ran in cgroup p
// (cpu.stat usage_usec, kept by cgroup v2 without the cpu controller).
func (t *cgroupTree) cpuUsec(p string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(t.dir(p), "cpu.stat"))
	if err != nil {
		return 0, fmt.Errorf("reading cpu.stat of %s: %w", p, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("cpu.stat of %s: %w", p, err)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("cpu.stat of %s: no usage_usec", p)
}

// kill ends every process in cgroup p (cgroup.kill, or SIGKILL to each
// member on kernels before 5.14) and waits until the cgroup is empty.
func (t *cgroupTree) kill(p string) error {
	d := t.dir(p)
	if err := os.WriteFile(filepath.Join(d, "cgroup.kill"), []byte("1"), 0); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(d); serr != nil {
				return nil // the cgroup itself is gone
			}
		}
		b, rerr := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if rerr != nil {
			return fmt.Errorf("killing cgroup %s: %w", p, err)
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	return pollUntil(context.Background(), 10*time.Second, 5*time.Millisecond, func() (bool, error) {
		b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		if errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		return err == nil && len(strings.TrimSpace(string(b))) == 0, err
	}, "cgroup "+p+" to empty")
}

// remove kills what is left in the cgroups the tree created and removes
// them, deepest first.
func (t *cgroupTree) remove() error {
	var errs []error
	for i := len(t.created) - 1; i >= 0; i-- {
		errs = append(errs, t.killAndRemove(t.created[i]))
	}
	t.created = nil
	return errors.Join(errs...)
}

// release kills and removes one cgroup the tree created. A killed cgroup
// must not be reused: on recent kernels (seen on 6.18) a process cloned
// into a cgroup after a cgroup.kill there is killed at once.
func (t *cgroupTree) release(p string) error {
	for i, c := range t.created {
		if c == p {
			t.created = append(t.created[:i], t.created[i+1:]...)
			break
		}
	}
	return t.killAndRemove(p)
}

func (t *cgroupTree) killAndRemove(p string) error {
	kerr := t.kill(p)
	err := pollUntil(context.Background(), 10*time.Second, 5*time.Millisecond, func() (bool, error) {
		err := os.Remove(t.dir(p))
		if err == nil || errors.Is(err, fs.ErrNotExist) {
			return true, nil
		}
		if errors.Is(err, syscall.EBUSY) {
			return false, nil // a killed member is still being reaped
		}
		return false, err
	}, "removing cgroup "+p)
	return errors.Join(kerr, err)
}

// pollUntil calls cond every interval until it reports true, fails, or
// timeout (or ctx) runs out.
func pollUntil(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error), what string) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		if time.Now().After(deadline) {
			if last != nil {
				return fmt.Errorf("waiting for %s: %w", what, last)
			}
			return fmt.Errorf("waiting for %s: timed out after %s", what, timeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
