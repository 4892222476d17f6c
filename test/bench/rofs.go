package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// The notable-failure workload needs a syscall that fails with an errno
// of the default --recorder.incident-errnos, as root (the workloads run as
// root), at about the cost of the failing openat it is compared with.
// EACCES does not happen to root on a file (CAP_DAC_OVERRIDE), and EPERM
// from an operation root is refused needs a user namespace and another
// syscall. An openat with O_WRONLY of a file on a read-only tmpfs fails
// with EROFS for everyone: the path walk finds the file, and the
// permission check (sb_permission, a read-only superblock) refuses the
// write before any file is allocated. It is the same syscall as the
// failing openat (ENOENT, not an incident), with a path of the same length,
// so that the recorder's path capture costs the same and what differs is
// the incident.

// roMount is a small tmpfs, remounted read-only, holding one empty file.
type roMount struct {
	dir  string // mount point
	file string // the file; its path is as long as missingPath
}

// missingPathLen is the length of the failing openat's path
// (workload/loops.go: "/nonexistent/flightrec-bench").
const missingPathLen = len("/nonexistent/flightrec-bench")

// newROMount mounts the tmpfs below /run (short paths; the scratch
// directory when /run is missing) and makes the file.
func newROMount() (_ *roMount, err error) {
	dir, err := os.MkdirTemp("/run", "frb-")
	if err != nil {
		if dir, err = os.MkdirTemp("", "frb-"); err != nil {
			return nil, fmt.Errorf("creating the read-only mount point: %w", err)
		}
	}
	m := &roMount{dir: dir}
	mounted := false
	defer func() {
		if err != nil {
			if mounted {
				_ = unix.Unmount(dir, unix.MNT_DETACH)
			}
			_ = os.Remove(dir)
		}
	}()
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	if err := unix.Mount("flightrec-bench", dir, "tmpfs", flags, "size=64k,mode=0755"); err != nil {
		return nil, fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	mounted = true
	name := "flightrec-bench"
	if pad := missingPathLen - len(dir) - 1; pad > 0 && pad < len(name) {
		name = name[:pad]
	} else if pad > len(name) {
		name += strings.Repeat("x", pad-len(name))
	}
	m.file = filepath.Join(dir, name)
	if err := os.WriteFile(m.file, nil, 0o644); err != nil {
		return nil, fmt.Errorf("creating %s: %w", m.file, err)
	}
	if err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY|flags, ""); err != nil {
		return nil, fmt.Errorf("remounting %s read-only: %w", dir, err)
	}
	// Check what the workload relies on, here, where the error is clear.
	fd, err := unix.Open(m.file, unix.O_WRONLY, 0)
	if err == nil {
		unix.Close(fd)
		return nil, fmt.Errorf("%s opened for writing on a read-only mount", m.file)
	}
	if !errors.Is(err, unix.EROFS) {
		return nil, fmt.Errorf("opening %s for writing: %w, want EROFS", m.file, err)
	}
	return m, nil
}

// remove unmounts the tmpfs and removes its mount point.
func (m *roMount) remove() error {
	if m == nil {
		return nil
	}
	if err := unix.Unmount(m.dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("unmounting %s: %w", m.dir, err)
	}
	if err := os.Remove(m.dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", m.dir, err)
	}
	return nil
}
