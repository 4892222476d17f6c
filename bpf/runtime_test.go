package bpf

import (
	"strings"
	"testing"
	"unsafe"
)

// matches applies a pattern as the kernel does (comm_is_runtime).
func matches(p recorderCommPattern, comm string) bool {
	var b [commLen]byte
	copy(b[:commLen-1], comm) // the kernel cuts names to 15 bytes
	c := [2]uint64{}
	for i := range c {
		for j := 0; j < 8; j++ {
			c[i] |= uint64(b[i*8+j]) << (8 * j)
		}
	}
	// The patterns are in host order; these tests run little-endian only.
	return c[0]&p.Mask[0] == p.Val[0] && c[1]&p.Mask[1] == p.Val[1]
}

func TestRuntimeCommPatterns(t *testing.T) {
	ps, err := commPatterns(DefaultRuntimeComms)
	if err != nil {
		t.Fatal(err)
	}
	runtime := func(comm string) bool {
		for _, p := range ps {
			if matches(p, comm) {
				return true
			}
		}
		return false
	}
	for _, comm := range []string{"runc", "runc:[0:PARENT]", "runc:[1:CHILD]", "runc:[2:INIT]", "crun", "youki:[2:INIT]", "conmon"} {
		if !runtime(comm) {
			t.Errorf("%q is not taken for the runtime", comm)
		}
	}
	for _, comm := range []string{"sh", "runcible", "crunchy", "run", "", "my-runc", "nginx: worker process"} {
		if runtime(comm) {
			t.Errorf("%q is taken for the runtime", comm)
		}
	}
}

func TestRuntimeCommPatternsRefuse(t *testing.T) {
	for name, want := range map[string]string{
		"":                  "want a name",
		"*":                 "want a name",
		"ru*nc":             "want a name",
		"a-very-long-name1": "longer than",
	} {
		_, err := commPatterns([]string{name})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error saying %q", name, err, want)
		}
	}
	if _, err := commPatterns(make([]string, MaxRuntimeComms+1)); err == nil {
		t.Errorf("%d names accepted, the kernel has room for %d", MaxRuntimeComms+1, MaxRuntimeComms)
	}
}

// The kernel has room for MaxRuntimeComms patterns.
func TestRuntimeCommsRoom(t *testing.T) {
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	v := spec.Variables[recorderVarRuntimeComms]
	if v == nil {
		t.Fatalf("no variable %s", recorderVarRuntimeComms)
	}
	var p recorderCommPattern
	if want := uint32(MaxRuntimeComms) * uint32(unsafe.Sizeof(p)); v.Size() != want {
		t.Errorf("%s is %d bytes, want %d (MaxRuntimeComms = %d)", recorderVarRuntimeComms, v.Size(), want, MaxRuntimeComms)
	}
}
