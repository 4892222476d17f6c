package bpf

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/syscalls"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// firstErrSlot is count_error_cached's first slot for a syscall/errno pair.
func firstErrSlot(nr, errno uint32) int {
	return int(((nr * 0x9E3779B1) ^ errno) & uint32(errCacheSlots-1))
}

// A container's failing pair whose first error slot another pair holds is
// counted in its other slot, not in the errors hash. Found on real ground:
// in make bench, the failing openat loop's (openat, ENOENT) found its slot
// taken by an earlier failure of the process that started it (prctl,
// EINVAL), and every one of its failures took the per-CPU hash instead, a
// hash lookup more in sys_exit.
func TestErrorPairTakesItsSecondSlot(t *testing.T) {
	rec, cg, hier := poolTest(t, Config{RingSize: 1024, SmallRingSize: 64, MaxRings: 8, SpareRings: 4, MemoryBudget: 64 << 20})
	workload := testenv.Build(t, "./test/workload")
	nr, _ := syscalls.HostArch().Number("openat")
	openat, enoent := uint32(nr), uint32(syscall.ENOENT)
	hot := uint64(openat)<<32 | uint64(enoent)
	first := firstErrSlot(openat, enoent)
	second := first ^ errCacheSlots/2
	const n = 500
	// The workload's own start fails now and then (a sleep interrupted by
	// a signal, say), and such a pair may take the second slot first: then
	// the try proves nothing, and another is made.
	for try := 0; try < 3; try++ {
		name := fmt.Sprintf("slots-%d", try)
		container := cg.Make(t, "/"+name)
		if out, code := cg.Run(t, container, nil, workload, "getppid", "10"); code != 0 {
			t.Fatalf("workload: exit %d\n%s", code, out)
		}
		ring, ok := ringOf(t, rec, cg, hier, name)
		if !ok {
			t.Fatal("the container got no ring")
		}
		slotAt := func(i int) int64 {
			return int64(ring.Slot)*int64(ringMetaSize) + int64(offMetaErrs+i*errSlotSize)
		}
		keyAt := func(i int) uint64 {
			var b [8]byte
			if _, err := rec.rings.ReadAt(b[:], slotAt(i)+int64(offSlotKey)); err != nil {
				t.Fatal(err)
			}
			return binary.NativeEndian.Uint64(b[:])
		}
		// Another pair holds the first slot (the start of the workload's
		// process may have failed with one that did; the same start
		// again counts there), and the second is free.
		if keyAt(first) == 0 {
			var b [8]byte
			binary.NativeEndian.PutUint64(b[:], uint64(openat)<<32|uint64(syscall.EXDEV))
			if _, err := rec.rings.WriteAt(b[:], slotAt(first)+int64(offSlotKey)); err != nil {
				t.Fatal(err)
			}
		}
		if keyAt(first) == hot {
			t.Fatal("the workload's start failed with (openat, ENOENT) itself: nothing to test")
		}
		if _, err := rec.rings.WriteAt(make([]byte, errSlotSize), slotAt(second)); err != nil {
			t.Fatal(err)
		}

		if out, code := cg.Run(t, container, nil, workload, "openat-missing", fmt.Sprint(n)); code != 0 {
			t.Fatalf("workload: exit %d\n%s", code, out)
		}
		_, slots := rec.errorSlots(ring.Slot)
		for _, s := range slots {
			if s.nr == openat && s.errno == enoent {
				if s.Count < n {
					t.Errorf("(openat, ENOENT) counts %d in its slot, want at least %d", s.Count, n)
				}
				return
			}
		}
		if k := keyAt(second); k != 0 && k != hot {
			t.Logf("try %d: another pair (key %#x) took the second slot first", try, k)
			continue
		}
		t.Fatalf("(openat, ENOENT) has no error slot of the ring though its second (%d) was free: every failure went to the hash; slots %+v", second, slots)
	}
	t.Fatal("in three tries, another pair took the second slot first each time")
}
