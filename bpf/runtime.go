package bpf

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// DefaultRuntimeComms are the command names of container runtimes' own
// processes that run in a container's cgroup before its entrypoint: runc's
// init stages (runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT]), crun's and
// youki's, and CRI-O's conmon where it shares the pod's cgroup. A trailing
// * matches any rest.
var DefaultRuntimeComms = []string{"runc", "runc:[*", "crun", "youki", "youki:[*", "conmon"}

// MaxRuntimeComms is how many runtime command names the kernel compares
// (RUNTIME_COMMS_MAX in recorder.h).
const MaxRuntimeComms = 8

// commLen is the kernel's TASK_COMM_LEN: names are cut to 15 bytes.
const commLen = 16

// commPatterns turns names (see DefaultRuntimeComms) into the masked
// comparisons of struct comm_pattern.
func commPatterns(names []string) ([]recorderCommPattern, error) {
	if len(names) > MaxRuntimeComms {
		return nil, fmt.Errorf("%d runtime command names: at most %d", len(names), MaxRuntimeComms)
	}
	out := make([]recorderCommPattern, 0, len(names))
	for _, name := range names {
		prefix := strings.HasSuffix(name, "*")
		lit := strings.TrimSuffix(name, "*")
		if lit == "" || strings.ContainsAny(lit, "*\x00") {
			return nil, fmt.Errorf("runtime command name %q: want a name, or a prefix ending in *", name)
		}
		if len(lit) > commLen-1 {
			return nil, fmt.Errorf("runtime command name %q: longer than the kernel's %d-byte command names", name, commLen-1)
		}
		var val, mask [commLen]byte
		copy(val[:], lit)
		n := len(lit)
		if !prefix {
			n++ // and the NUL after it: an exact name
		}
		for i := 0; i < n; i++ {
			mask[i] = 0xff
		}
		bo := binary.NativeEndian
		out = append(out, recorderCommPattern{
			Val:  [2]uint64{bo.Uint64(val[:8]), bo.Uint64(val[8:])},
			Mask: [2]uint64{bo.Uint64(mask[:8]), bo.Uint64(mask[8:])},
		})
	}
	return out, nil
}

// CheckRuntimeComms reports the first of names the kernel cannot compare.
func CheckRuntimeComms(names []string) error {
	_, err := commPatterns(names)
	return err
}
