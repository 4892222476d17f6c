package bpf

import (
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// poolTest loads a recorder for the cgroups below a fresh test parent.
func poolTest(t *testing.T, cfg Config) (*Recorder, *testenv.Cgroups, *cgroups.Hierarchy) {
	t.Helper()
	cg := testenv.NewCgroups(t)
	hier, err := cgroups.Open(cg.Mount)
	if err != nil {
		t.Fatal(err)
	}
	parentID, err := hier.ID(cg.Parent)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ParentCgroupID, cfg.ParentLevel = parentID, cgroups.Level(cg.Parent)
	cfg.Arch, cfg.ErrorSeries, cfg.LatencySeries = syscalls.HostArch(), 64, 64
	rec, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rec.pool.idleGrace = 0 // released rings are freed at the next Drain
	t.Cleanup(func() { rec.Close() })
	return rec, cg, hier
}

// ringOf finds the ring of the cgroup rel below the test parent.
func ringOf(t *testing.T, rec *Recorder, cg *testenv.Cgroups, hier *cgroups.Hierarchy, rel string) (Ring, bool) {
	t.Helper()
	id, err := hier.ID(filepath.Join(cg.Parent, rel))
	if err != nil {
		t.Fatal(err)
	}
	rings, _, err := rec.Rings()
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rings {
		if r.CgroupID == id {
			return r, true
		}
	}
	return Ring{CgroupID: id}, false
}

// A busy small ring promoted to the large class keeps every record and
// every incident it had, and goes on in the large map.
func TestPromotionKeepsEverything(t *testing.T) {
	enoent := int(syscall.ENOENT)
	rec, cg, hier := poolTest(t, Config{RingSize: 1024, SmallRingSize: 64, MaxRings: 4, SpareRings: 1, MemoryBudget: 64 << 20,
		Incidents: Incidents{Errnos: []int{enoent}, Context: 4, First: 2, Latest: 12, Rate: 1e6, Burst: 1000}})
	container := cg.Make(t, "/busy")
	workload := testenv.Build(t, "./test/workload")
	// Failures, then enough else that only the tape still has them.
	for _, args := range [][]string{{"openat-missing", "40"}, {"getppid", "200"}} {
		if out, code := cg.Run(t, container, nil, workload, args...); code != 0 {
			t.Fatalf("workload %v: exit %d\n%s", args, code, out)
		}
	}
	ring, ok := ringOf(t, rec, cg, hier, "busy")
	if !ok {
		t.Fatal("the container got no ring")
	}
	before, err := rec.Read(ring.CgroupID, ring.Slot)
	if err != nil {
		t.Fatal(err)
	}
	if before.Ring.Large || before.Ring.Written <= 64 {
		t.Fatalf("before: large %v, %d records written; want a small ring that turned over", before.Ring.Large, before.Ring.Written)
	}
	fromTape := 0
	for _, r := range before.Records {
		if r.FromTape {
			fromTape++
		}
	}
	if fromTape == 0 {
		t.Fatal("before: no record from the incident tape; the test needs some")
	}
	small := rec.Memory()

	n, err := rec.Promote(time.Now())
	if err != nil || n != 1 {
		t.Fatalf("Promote: %d rings, %v; want 1", n, err)
	}
	after, err := rec.Read(ring.CgroupID, ring.Slot)
	if err != nil {
		t.Fatal(err)
	}
	if !after.Ring.Large || after.Ring.Capacity != 1024 {
		t.Fatalf("after: large %v, capacity %d; want the large class of 1024", after.Ring.Large, after.Ring.Capacity)
	}
	have := map[uint64]Record{}
	for _, r := range after.Records {
		have[r.Seq] = r
	}
	for _, r := range before.Records {
		got, ok := have[r.Seq]
		switch {
		case !ok:
			t.Errorf("record %d (%d) lost in the promotion", r.Seq, r.Nr)
		case got.Nr != r.Nr || got.Ret != r.Ret || got.EnterNs != r.EnterNs || got.Incident != r.Incident:
			t.Errorf("record %d changed in the promotion: %+v, was %+v", r.Seq, got, r)
		}
	}
	if err := rec.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := rec.Memory()
	if m.Large != 1 || m.Bytes != small.Bytes-m.SmallBytes+m.LargeBytes {
		t.Errorf("memory after the promotion: %+v; before %+v: want the small map freed and a large one made", m, small)
	}

	// Recording goes on in the large map: it holds more than a small one.
	if out, code := cg.Run(t, container, nil, workload, "getppid", "3000"); code != 0 {
		t.Fatalf("workload: exit %d\n%s", code, out)
	}
	later, err := rec.Read(ring.CgroupID, ring.Slot)
	if err != nil {
		t.Fatal(err)
	}
	inRing := 0
	for _, r := range later.Records {
		if !r.FromTape {
			inRing++
		}
	}
	if inRing < 1000 {
		t.Errorf("large ring holds %d records of %d written, want about 1024", inRing, later.Ring.Written)
	}

	// Freed with the container: memory returns to what the spares take.
	cg.Remove(t, container)
	if err := rec.Release(ring.CgroupID); err != nil {
		t.Fatal(err)
	}
	if err := rec.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	end := rec.Memory()
	if end.Large != 0 || end.Small != 0 || end.Bytes != end.MetaBytes+int64(end.Spare)*end.SmallBytes || end.Spare > 1+1 {
		t.Errorf("after release: %+v, want only the metadata and the spare rings", end)
	}
}

// Rings are made as containers come, within the memory budget. A
// container that finds the budget spent is counted as untracked; the
// others keep their rings, and memory returns when they go.
func TestRingsWithinTheBudget(t *testing.T) {
	cfg := Config{RingSize: 256, SmallRingSize: 64, MaxRings: 16, SpareRings: 1}
	// Room for the metadata and three small rings: two containers and a
	// spare, then a third container, and no spare after it.
	cfg.MemoryBudget = cfg.MetaBytes() + 3*cfg.ClassBytes(false) + cfg.ClassBytes(false)/2 // kernels round a little differently
	rec, cg, hier := poolTest(t, cfg)
	start := rec.Memory()
	if start.Spare != 1 || start.Bytes != start.MetaBytes+start.SmallBytes {
		t.Fatalf("at start: %+v, want the metadata and one spare ring", start)
	}
	workload := testenv.Build(t, "./test/workload")
	var paths []string
	for i := 0; i < 5; i++ {
		p := cg.Make(t, "/c"+strconv.Itoa(i))
		paths = append(paths, p)
		if out, code := cg.Run(t, p, nil, workload, "getppid", "10"); code != 0 {
			t.Fatalf("workload: exit %d\n%s", code, out)
		}
		if err := rec.Replenish(); err != nil {
			t.Fatal(err)
		}
		if m := rec.Memory(); m.Bytes > cfg.MemoryBudget {
			t.Fatalf("container %d: %d bytes of rings, over the budget of %d", i, m.Bytes, cfg.MemoryBudget)
		}
	}
	for i := 0; i < 5; i++ {
		_, ok := ringOf(t, rec, cg, hier, "c"+strconv.Itoa(i))
		if want := i < 3; ok != want {
			t.Errorf("container %d has a ring: %v, want %v (first come, first served)", i, ok, want)
		}
	}
	_, untracked, err := rec.Rings()
	if err != nil {
		t.Fatal(err)
	}
	if len(untracked) != 2 {
		t.Errorf("%d untracked containers, want 2", len(untracked))
	}
	for i, p := range paths {
		r, _ := ringOf(t, rec, cg, hier, "c"+strconv.Itoa(i))
		cg.Remove(t, p)
		if err := rec.Release(r.CgroupID); err != nil {
			t.Fatal(err)
		}
	}
	if err := rec.Drain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := rec.Replenish(); err != nil {
		t.Fatal(err)
	}
	if end := rec.Memory(); end.Bytes != start.Bytes || end.Spare != 1 {
		t.Errorf("after every container went: %+v, want what it was at start (%d bytes, 1 spare)", end, start.Bytes)
	}
}

// A container refused a ring at its first syscall (none was ready) asks
// again from its later syscalls, and gets one once a ring is ready: it is
// recorded from then on, and its ring says it began late. Before, it
// stayed untracked for its life.
func TestRefusedContainerGetsALateRing(t *testing.T) {
	rec, cg, hier := poolTest(t, Config{RingSize: 256, SmallRingSize: 64, MaxRings: 4, SpareRings: 1, MemoryBudget: 64 << 20})
	workload := testenv.Build(t, "./test/workload")
	first, late := cg.Make(t, "/first"), cg.Make(t, "/late")
	// The one ready ring goes to the first container; none is made after it.
	for _, p := range []string{first, late} {
		if out, code := cg.Run(t, p, nil, workload, "getppid", "10"); code != 0 {
			t.Fatalf("workload: exit %d\n%s", code, out)
		}
	}
	if _, ok := ringOf(t, rec, cg, hier, "first"); !ok {
		t.Fatal("the first container got no ring")
	}
	if _, ok := ringOf(t, rec, cg, hier, "late"); ok {
		t.Fatal("the second container got a ring: the test needs it refused")
	}
	if err := rec.Replenish(); err != nil {
		t.Fatal(err)
	}
	// It asks again at most every ~0.1 s: its syscalls go on until it has one.
	path := "/nonexistent/after-the-late-ring"
	var ring Ring
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, code := cg.Run(t, late, nil, workload, "open-fail", path, "5"); code != 0 {
			t.Fatalf("workload open-fail: exit %d", code)
		}
		var ok bool
		if ring, ok = ringOf(t, rec, cg, hier, "late"); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused container got no ring within 10 s of one being ready")
		}
	}
	// Its next syscalls are recorded in it.
	if _, code := cg.Run(t, late, nil, workload, "open-fail", path, "5"); code != 0 {
		t.Fatalf("workload open-fail: exit %d", code)
	}
	snap, err := rec.Read(ring.CgroupID, ring.Slot)
	if err != nil {
		t.Fatal(err)
	}
	opens := 0
	for _, r := range snap.Records {
		if string(r.Str1) == path {
			opens++
		}
	}
	if !snap.Ring.Late || opens < 5 {
		t.Errorf("late ring: late %v, %d opens of %s recorded; want late, and at least the last run's 5", snap.Ring.Late, opens, path)
	}
	stats, err := rec.Stats()
	if err != nil {
		t.Fatal(err)
	}
	_, untracked, err := rec.Rings()
	if err != nil {
		t.Fatal(err)
	}
	if stats.ContainersLate != 1 || stats.ContainersAdded != 2 || len(untracked) != 0 {
		t.Errorf("%d rings assigned, %d late, %d containers untracked; want 2, 1, 0", stats.ContainersAdded, stats.ContainersLate, len(untracked))
	}
	if r, _ := ringOf(t, rec, cg, hier, "first"); r.Late {
		t.Error("the first container's ring, assigned at its first syscall, is marked late")
	}
}
