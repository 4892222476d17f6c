package main

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
)

// floorTracer is the overhead floor: the empty programs of floor.bpf.c
// attached to tp_btf/sys_enter and tp_btf/sys_exit in this process.
type floorTracer struct {
	objs  floorObjects
	links []link.Link
}

// attachFloor loads and attaches the empty programs.
func attachFloor() (*floorTracer, error) {
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK: %w", err)
	}
	f := &floorTracer{}
	if err := loadFloorObjects(&f.objs, nil); err != nil {
		return nil, fmt.Errorf("loading the floor programs: %w", err)
	}
	for _, prog := range []*ebpf.Program{f.objs.FloorSysEnter, f.objs.FloorSysExit} {
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
		return fmt.Errorf("detaching the floor programs: %w", err)
	}
	return nil
}
