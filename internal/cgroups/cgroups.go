// Package cgroups finds the cgroup v2 hierarchy and translates between
// cgroup ids (what the kernel records) and cgroup paths (what people read).
package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// ErrNoCgroup2 means the host has no cgroup v2 hierarchy mounted.
var ErrNoCgroup2 = errors.New("no cgroup2 filesystem is mounted (the recorder needs the unified cgroup v2 hierarchy)")

// FindMount returns where the cgroup2 filesystem is mounted, from
// /proc/self/mountinfo.
func FindMount() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", fmt.Errorf("reading mounts: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		// 36 35 0:30 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw
		fields := strings.Fields(sc.Text())
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return unescapeMount(fields[4]), nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading mounts: %w", err)
	}
	return "", ErrNoCgroup2
}

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// Hierarchy is a cgroup2 mount.
type Hierarchy struct {
	Root string // mount point, e.g. /sys/fs/cgroup

	mu    sync.Mutex
	paths map[uint64]string // id -> path relative to Root, "/..."
}

// Open checks that root is a cgroup2 mount.
func Open(root string) (*Hierarchy, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(root, &st); err != nil {
		return nil, fmt.Errorf("cgroup2 mount %s: %w", root, err)
	}
	const cgroup2Magic = 0x63677270
	if st.Type != cgroup2Magic {
		return nil, fmt.Errorf("%s is not a cgroup2 mount (filesystem magic %#x)", root, st.Type)
	}
	return &Hierarchy{Root: filepath.Clean(root), paths: map[uint64]string{}}, nil
}

// OpenTree is Open for a plain directory tree laid out like a cgroup2
// hierarchy, whose inode numbers stand for cgroup ids: fixtures of tests
// that need no root.
func OpenTree(root string) *Hierarchy {
	return &Hierarchy{Root: filepath.Clean(root), paths: map[uint64]string{}}
}

// Clean normalises a cgroup path relative to the hierarchy: "/a/b", "/" for the root.
func Clean(p string) string {
	return filepath.Clean("/" + p)
}

// Level is the depth of a cleaned cgroup path: "/" is 0, "/a/b" is 2.
func Level(p string) int {
	p = Clean(p)
	if p == "/" {
		return 0
	}
	return strings.Count(p, "/")
}

// ID returns the id of the cgroup at path (relative to the hierarchy); on
// cgroup v2 it is the inode number of its directory.
func (h *Hierarchy) ID(path string) (uint64, error) {
	fi, err := os.Stat(filepath.Join(h.Root, Clean(path)))
	if err != nil {
		return 0, fmt.Errorf("cgroup %s: %w", Clean(path), err)
	}
	if !fi.IsDir() {
		return 0, fmt.Errorf("cgroup %s: not a directory", Clean(path))
	}
	return fi.Sys().(*syscall.Stat_t).Ino, nil
}

// Path returns the path of a cgroup id, walking the hierarchy below parent
// again when the id is not known yet. ok is false for a cgroup that no
// longer exists.
func (h *Hierarchy) Path(id uint64, parent string) (string, bool) {
	h.mu.Lock()
	p, ok := h.paths[id]
	h.mu.Unlock()
	if ok {
		return p, true
	}
	live, err := h.Walk(parent)
	if err != nil {
		return "", false
	}
	p, ok = live[id]
	return p, ok
}

// Walk lists every cgroup below parent (parent included), id -> path, and
// remembers them for Path.
func (h *Hierarchy) Walk(parent string) (map[uint64]string, error) {
	base := filepath.Join(h.Root, Clean(parent))
	live := map[uint64]string{}
	err := filepath.WalkDir(base, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p != base {
				return nil // removed while walking
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(h.Root, p)
		live[info.Sys().(*syscall.Stat_t).Ino] = Clean(rel)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking cgroups below %s: %w", Clean(parent), err)
	}
	h.mu.Lock()
	h.paths = live
	h.mu.Unlock()
	return live, nil
}
