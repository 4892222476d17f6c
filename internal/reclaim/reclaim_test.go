package reclaim

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
)

// kernel is a fake of the recorder's maps: rings, counters, and what was
// released and forgotten.
type kernel struct {
	rings     []bpf.Ring
	records   map[uint64][]bpf.Record
	counters  []uint64
	released  []uint64
	forgotten []uint64
}

func (k *kernel) Rings() ([]bpf.Ring, []uint64, error) { return k.rings, nil, nil }
func (k *kernel) CounterCgroups() ([]uint64, error)    { return k.counters, nil }
func (k *kernel) Read(id uint64, _ uint32) (bpf.Snapshot, error) {
	for _, r := range k.rings {
		if r.CgroupID == id {
			return bpf.Snapshot{Ring: r, Records: k.records[id]}, nil
		}
	}
	return bpf.Snapshot{}, os.ErrNotExist
}
func (k *kernel) Release(id uint64) error {
	k.released = append(k.released, id)
	k.rings = slices.DeleteFunc(k.rings, func(r bpf.Ring) bool { return r.CgroupID == id })
	return nil
}
func (k *kernel) ForgetCounters(gone map[uint64]bool) error {
	for id := range gone {
		k.forgotten = append(k.forgotten, id)
	}
	k.counters = slices.DeleteFunc(k.counters, func(id uint64) bool { return gone[id] })
	return nil
}

// A removed cgroup's ring is frozen and freed at once; its counters live on
// for the grace period, then are retired and forgotten.
func TestReclaimFreezesThenForgets(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"app.scope", "gone.scope"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hier := cgroups.OpenTree(root)
	app, _ := hier.ID("/app.scope")
	gone, _ := hier.ID("/gone.scope")
	exit := bpf.Record{Seq: 7, Finished: true, Nr: bpf.EventProcessExit, PID: 9}
	exit.Args[0], exit.Args[1] = 3<<8, bpf.ExitGroupDead
	k := &kernel{
		rings:    []bpf.Ring{{CgroupID: app, Slot: 0, Written: 10, Capacity: 4096}, {CgroupID: gone, Slot: 1, Written: 5000, Capacity: 4096, Large: true}},
		records:  map[uint64][]bpf.Record{gone: {exit}},
		counters: []uint64{app, gone},
	}
	resolver := containers.NewResolver(hier, "/", time.Minute)
	store := frozen.NewStore(frozen.Limits{Retention: time.Hour, MaxRings: 4, MaxBytes: 1 << 20}, nil)
	rc := New(k, resolver, store, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var retired []uint64
	rc.Retire = func(ids []uint64, forget func() error) error { retired = append(retired, ids...); return forget() }

	t0 := time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)
	if n, err := rc.Reclaim(t0); err != nil || n != 0 {
		t.Fatalf("first pass freed %d (%v), want none: every cgroup lives", n, err)
	}
	known := resolver.Len()
	if err := os.Remove(filepath.Join(root, "gone.scope")); err != nil {
		t.Fatal(err)
	}
	if n, err := rc.Reclaim(t0.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("freed %d (%v), want the removed cgroup's ring", n, err)
	}
	if !slices.Equal(k.released, []uint64{gone}) {
		t.Errorf("released %v, want [%d]", k.released, gone)
	}
	f, ok := store.Previous(1, func(f *frozen.Ring) bool { return f.Cgroup == "/gone.scope" })
	if !ok || f.Ended != "exited with 3" || len(f.Records) != 1 {
		t.Fatalf("frozen ring %+v, %v", f, ok)
	}
	if w, o := rc.ReleasedRecords(); w != 5000 || o != 5000-4096 {
		t.Errorf("released records written %d overwritten %d, want 5000 and %d", w, o, 5000-4096)
	}
	if len(k.forgotten) != 0 || len(retired) != 0 {
		t.Errorf("counters forgotten %v, retired %v within the grace period", k.forgotten, retired)
	}
	if _, err := rc.Reclaim(t0.Add(time.Second + time.Minute)); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(k.forgotten, []uint64{gone}) || !slices.Equal(retired, []uint64{gone}) {
		t.Errorf("after the grace period: forgotten %v, retired %v, want [%d]", k.forgotten, retired, gone)
	}
	want := `
# HELP flightrec_recorder_rings_released_total Rings freed after their cgroup was removed.
# TYPE flightrec_recorder_rings_released_total counter
flightrec_recorder_rings_released_total 1
`
	if err := testutil.CollectAndCompare(rc, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	wantStore := `
# HELP flightrec_dump_frozen_evicted_total Frozen rings dropped by the retention, count or byte bounds.
# TYPE flightrec_dump_frozen_evicted_total counter
flightrec_dump_frozen_evicted_total 0
# HELP flightrec_dump_frozen_rings Rings of removed containers kept in memory for previous=true dumps.
# TYPE flightrec_dump_frozen_rings gauge
flightrec_dump_frozen_rings 1
`
	if err := testutil.CollectAndCompare(store, strings.NewReader(wantStore), "flightrec_dump_frozen_rings", "flightrec_dump_frozen_evicted_total"); err != nil {
		t.Error(err)
	}
	if err := testutil.CollectAndCompare(resolver, strings.NewReader(fmt.Sprintf(`
# HELP flightrec_recorder_known_cgroups Cgroups below the parent the exporter remembers (live ones and removed ones within the grace period).
# TYPE flightrec_recorder_known_cgroups gauge
flightrec_recorder_known_cgroups %d
`, known-1))); err != nil {
		t.Error(err)
	}
}

// Retiring an expired cgroup's counters fails once (a map read fails): the
// next pass tries again, with the same cgroup, and forgets it only then.
// Before, the resolver returned an expired cgroup once, and a failed pass
// left its counters in the kernel for good.
func TestReclaimRetriesAFailedRetire(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "gone.scope"), 0o755); err != nil {
		t.Fatal(err)
	}
	hier := cgroups.OpenTree(root)
	gone, _ := hier.ID("/gone.scope")
	k := &kernel{counters: []uint64{gone}}
	resolver := containers.NewResolver(hier, "/", time.Minute)
	rc := New(k, resolver, frozen.NewStore(frozen.Limits{Retention: time.Hour, MaxRings: 4, MaxBytes: 1 << 20}, nil),
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	fail := true
	var tries [][]uint64
	rc.Retire = func(ids []uint64, forget func() error) error {
		tries = append(tries, slices.Clone(ids))
		if fail {
			return fmt.Errorf("reading the counters failed")
		}
		return forget()
	}
	t0 := time.Date(2026, 12, 5, 5, 0, 0, 0, time.UTC)
	if _, err := rc.Reclaim(t0); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "gone.scope")); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Reclaim(t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Reclaim(t0.Add(2 * time.Minute)); err == nil {
		t.Fatal("the pass whose retiring failed reported no error")
	}
	fail = false
	if _, err := rc.Reclaim(t0.Add(2*time.Minute + time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(tries) != 2 || !slices.Equal(tries[0], []uint64{gone}) || !slices.Equal(tries[1], []uint64{gone}) {
		t.Errorf("retired %v, want [%d] twice: the failed try, then the retry", tries, gone)
	}
	if !slices.Equal(k.forgotten, []uint64{gone}) || len(k.counters) != 0 {
		t.Errorf("counters forgotten %v, left %v, want [%d] forgotten and none left", k.forgotten, k.counters, gone)
	}
	if _, err := rc.Reclaim(t0.Add(3 * time.Minute)); err != nil || len(tries) != 2 {
		t.Errorf("a pass after the retiring: %v, %d tries, want no error and no third try", err, len(tries))
	}
}
