package bpf

import (
	"strconv"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// On kernels without group_dead, threads that exit together can each find
// the process's live count at zero. Whatever the interleaving, the ring
// read back gives each process one end, its last exit record. This runs
// the older kernels' program on this kernel, where both fit.
func TestConcurrentThreadExitsResolveToOneEnd(t *testing.T) {
	rec, cg, hier := poolTest(t, Config{RingSize: 1 << 14, SmallRingSize: 1 << 14, MaxRings: 4, SpareRings: 2,
		MemoryBudget: 1 << 30, exitVariant: "process_exit_live"})
	container := cg.Make(t, "/app")
	workload := testenv.Build(t, "./test/workload")
	const runs, threads = 20, 16
	for i := 0; i < runs; i++ {
		if out, code := cg.Run(t, container, nil, workload, "threads-exit", strconv.Itoa(threads), "7"); code != 7 {
			t.Fatalf("exit code %d, want 7\n%s", code, out)
		}
	}
	ring, ok := ringOf(t, rec, cg, hier, "app")
	if !ok {
		t.Fatal("the container got no ring")
	}
	id, slot := ring.CgroupID, ring.Slot
	// The records as the kernel wrote them, before resolveProcessExits.
	snap, err := rec.Read(id, slot)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]Record, 0, len(snap.Records))
	for seq := snap.Records[0].Seq; seq <= snap.Records[len(snap.Records)-1].Seq; seq++ {
		if r, ok := rec.Record(slot, seq); ok {
			raw = append(raw, r)
		}
	}
	candidates := map[uint32]int{}
	for _, r := range raw {
		if r.Nr == EventProcessExit && r.Args[1] == exitGroupMaybe {
			candidates[r.PID]++
		}
	}
	if len(candidates) != runs {
		t.Fatalf("%d processes with an exit that read live == 0, want %d", len(candidates), runs)
	}
	raced := 0
	for _, n := range candidates {
		if n > 1 {
			raced++
		}
	}
	t.Logf("%d of %d processes had more than one thread read live == 0", raced, runs)

	ends, end, last := map[uint32]int{}, map[uint32]int{}, map[uint32]int{}
	for i, r := range snap.Records {
		if r.Nr != EventProcessExit {
			continue
		}
		last[r.PID] = i
		if r.Args[1] == ExitGroupDead {
			ends[r.PID]++
			end[r.PID] = i
		}
	}
	for pid := range candidates {
		switch {
		case ends[pid] != 1:
			t.Errorf("pid %d: %d ends, want 1", pid, ends[pid])
		case end[pid] != last[pid]:
			t.Errorf("pid %d: its end is not its last exit record", pid)
		}
	}
}
