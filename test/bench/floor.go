package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"golang.org/x/sys/unix"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// floorTracer is a pair of reference programs of floor.bpf.c attached to
// tp_btf/sys_enter and tp_btf/sys_exit in this process: the empty floor,
// or the essentials.
type floorTracer struct {
	objs  floorObjects
	links []link.Link
}

// attachFloor loads and attaches the empty programs.
func attachFloor() (*floorTracer, error) {
	return attachReference(nil, func(o *floorObjects) []*ebpf.Program {
		return []*ebpf.Program{o.FloorSysEnter, o.FloorSysExit}
	})
}

// attachEssentials loads and attaches the essentials programs, recording
// tasks below the cgroup parent (a path relative to the cgroup2 mount).
func attachEssentials(mount, parent string) (*floorTracer, error) {
	fi, err := os.Stat(filepath.Join(mount, parent))
	if err != nil {
		return nil, fmt.Errorf("parent cgroup: %w", err)
	}
	consts := map[string]any{
		"parent_cgroup_id": fi.Sys().(*syscall.Stat_t).Ino,
		"parent_level":     uint32(cgroups.Level(parent)),
		"openat_nr":        uint32(unix.SYS_OPENAT),
		"write_nr":         uint32(unix.SYS_WRITE),
	}
	return attachReference(consts, func(o *floorObjects) []*ebpf.Program {
		return []*ebpf.Program{o.EssentialSysEnter, o.EssentialSysExit}
	})
}

// attachReference loads floor.bpf.c with the given constants and attaches
// the two programs pick chooses.
func attachReference(consts map[string]any, pick func(*floorObjects) []*ebpf.Program) (*floorTracer, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK: %w", err)
	}
	spec, err := loadFloor()
	if err != nil {
		return nil, fmt.Errorf("reading the reference programs: %w", err)
	}
	for name, v := range consts {
		if err := spec.Variables[name].Set(v); err != nil {
			return nil, fmt.Errorf("setting %s: %w", name, err)
		}
	}
	f := &floorTracer{}
	if err := spec.LoadAndAssign(&f.objs, nil); err != nil {
		return nil, fmt.Errorf("loading the reference programs: %w", err)
	}
	for _, prog := range pick(&f.objs) {
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			f.close()
			return nil, fmt.Errorf("attaching %s: %w", prog, err)
		}
		f.links = append(f.links, l)
	}
	return f, nil
}

// linkIDs are the kernel ids of the floor's links, so that the foreign
// tracer check does not count them.
func (f *floorTracer) linkIDs() map[link.ID]bool {
	ids := map[link.ID]bool{}
	for _, l := range f.links {
		if info, err := l.Info(); err == nil {
			ids[info.ID] = true
		}
	}
	return ids
}

// close detaches and unloads the programs.
func (f *floorTracer) close() error {
	var errs []error
	for _, l := range f.links {
		errs = append(errs, l.Close())
	}
	f.links = nil
	errs = append(errs, f.objs.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("detaching the reference programs: %w", err)
	}
	return nil
}
