package bpf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"unsafe"

	"github.com/cilium/ebpf/ringbuf"
)

// CgroupEvent is a cgroup v2 creation or removal seen by the kernel.
type CgroupEvent struct {
	ID      uint64
	Path    string // relative to the cgroup2 mount
	Removed bool
}

// cgroupEventHeader is the size of struct cgroup_event before its path.
var cgroupEventHeader = int(unsafe.Offsetof(recorderCgroupEvent{}.Path))

// WatchCgroups calls fn for every cgroup created or removed, in order,
// until ctx ends. Paths arrive before any process can run in a new cgroup,
// so even a container that lives a millisecond gets its name.
func (r *Recorder) WatchCgroups(ctx context.Context, fn func(CgroupEvent)) error {
	rd, err := ringbuf.NewReader(r.maps.CgroupEvents)
	if err != nil {
		return fmt.Errorf("opening cgroup events: %w", err)
	}
	go func() {
		<-ctx.Done()
		rd.Close()
	}()
	var rec ringbuf.Record
	for {
		if err := rd.ReadInto(&rec); err != nil {
			if errors.Is(err, ringbuf.ErrClosed) || errors.Is(err, os.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading cgroup events: %w", err)
		}
		if ev, ok := parseCgroupEvent(rec.RawSample); ok {
			fn(ev)
		}
	}
}

func parseCgroupEvent(b []byte) (CgroupEvent, bool) {
	if len(b) < cgroupEventHeader+1 {
		return CgroupEvent{}, false
	}
	var e recorderCgroupEvent
	id := binary.NativeEndian.Uint64(b[unsafe.Offsetof(e.Id):])
	kind := recorderCgroupEventKind(binary.NativeEndian.Uint32(b[unsafe.Offsetof(e.Kind):]))
	path := b[cgroupEventHeader:]
	if i := bytes.IndexByte(path, 0); i >= 0 {
		path = path[:i]
	}
	return CgroupEvent{ID: id, Path: string(path), Removed: kind == recorderCgroupEventKindCGROUP_EVENT_RMDIR}, true
}
