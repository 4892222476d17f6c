package collector

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/golden"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// The golden test runs every collector over a fake recorder: no root, no
// kernel. `go test ./collector -update` rewrites testdata/metrics.golden
// after a deliberate change of the output.

type fakeSource struct {
	errs []bpf.ErrorCount
	lats []bpf.LatencyCount
}

func (f *fakeSource) Config() bpf.Config {
	return bpf.Config{RingSize: 4096, SmallRingSize: 256, MaxRings: 1024, ErrorSeries: 16384, LatencySeries: 4096}
}

func (f *fakeSource) Rings() ([]bpf.Ring, []uint64, error) {
	return []bpf.Ring{{CgroupID: 1, Slot: 0, Written: 5000, Capacity: 4096, Large: true}, {CgroupID: 3, Slot: 1, Written: 12, Capacity: 256}}, []uint64{77}, nil
}

func (f *fakeSource) Stats() (bpf.Stats, error) {
	return bpf.Stats{UntrackedSyscalls: 40, ContainersAdded: 3, ContainersLate: 1, ContainersUntracked: 1, ExitLost: 2, PayloadFaults: 5}, nil
}
func (f *fakeSource) ErrorCounts() ([]bpf.ErrorCount, error) { return f.errs, nil }
func (f *fakeSource) Latencies() ([]bpf.LatencyCount, error) { return f.lats, nil }
func (f *fakeSource) MapEntries() (errs, latencies int, err error) {
	return len(f.errs), len(f.lats), nil
}
func (f *fakeSource) MapMemory() (map[string]uint64, error) {
	return map[string]uint64{"small_rings": 16384, "rings": 393216, "errors": 65536}, nil
}
func (f *fakeSource) Memory() bpf.MemoryStats {
	return bpf.MemoryStats{Bytes: 3 << 20, TapeBytes: 1 << 20, Budget: 192 << 20, Small: 2, Large: 1, Spare: 16, Promotions: 1,
		SmallBytes: 180224, LargeBytes: 1269760, SmallTapeBytes: 53568, LargeTapeBytes: 249984}
}
func (f *fakeSource) ProgramStats() (map[string]bpf.ProgramStat, error) {
	return map[string]bpf.ProgramStat{"sys_enter": {Runs: 10, Runtime: 2 * time.Microsecond}}, nil
}
func (f *fakeSource) KernelFeatures() map[string]bool {
	return map[string]bool{bpf.FeatureOOMKill: true, bpf.FeatureGroupDead: false}
}

type released struct{ written, overwritten uint64 }

func (r released) ReleasedRecords() (uint64, uint64) { return r.written, r.overwritten }

type labeler map[uint64]containers.Labels

func (l labeler) Labels(id uint64) (containers.Labels, bool) { v, ok := l[id]; return v, ok }
func (l labeler) LabelSet() map[containers.Labels]bool {
	out := map[containers.Labels]bool{}
	for _, v := range l {
		out[v] = true
	}
	return out
}

var (
	app   = containers.Labels{Namespace: "shop", Pod: "web-0", Container: "app"}
	proxy = containers.Labels{Namespace: "shop", Pod: "web-0", Container: "proxy"}
	gone  = containers.Labels{Namespace: "shop", Pod: "old-0", Container: "app"}
	t0    = time.Date(2026, 11, 27, 5, 20, 43, 0, time.UTC)
)

func nr(name string) int {
	n, ok := syscalls.ArchAMD64.Number(name)
	if !ok {
		panic(name)
	}
	return n
}

// fixture: cgroup 1 is app's current run and 2 its previous run, still in
// the kernel maps (they add up); 3 is proxy; 4 has no labels yet (its
// series wait); 5 and 6 were app's and a deleted pod's runs whose counters
// were retired (app's carry over, the deleted pod's are dropped).
func newFixture(t *testing.T) (*Flightrec, *fakeSource) {
	t.Helper()
	futexWaitPrivate := uint32(0) // the kernel keeps the command and drops FUTEX_PRIVATE_FLAG
	buckets := func(i int, n uint64) (b [bpf.LatencyBuckets]uint64) { b[i] = n; return }
	src := &fakeSource{
		errs: []bpf.ErrorCount{
			{CgroupID: 1, Nr: nr("openat"), Errno: 13, Count: 3, LastSeq: 4017, LastNs: 2_000_000},
			{CgroupID: 2, Nr: nr("openat"), Errno: 13, Count: 2, LastSeq: 9, LastNs: 1_000_000},
			{CgroupID: 3, Nr: nr("connect"), Errno: 111, Count: 4, LastSeq: 11, LastNs: 3_000_000},
			{CgroupID: 4, Nr: nr("read"), Errno: 9, Count: 1},
		},
		lats: []bpf.LatencyCount{
			{CgroupID: 1, Nr: nr("fsync"), Count: 2, SumNs: 3_000_000, Buckets: buckets(11, 2)},
			{CgroupID: 3, Nr: nr("futex"), Op: futexWaitPrivate, Count: 5, SumNs: 50_000_000, Buckets: buckets(15, 5)},
			{CgroupID: 3, Nr: nr("futex"), Op: 1, Count: 7, SumNs: 7_000, Buckets: buckets(0, 7)},
		},
	}
	labels := labeler{1: app, 2: app, 3: proxy, 5: app, 6: gone}
	retired := NewRetired()
	ended := &fakeSource{
		errs: []bpf.ErrorCount{
			{CgroupID: 5, Nr: nr("openat"), Errno: 13, Count: 10},
			{CgroupID: 5, Nr: nr("mmap"), Errno: 12, Count: 1},
			{CgroupID: 6, Nr: nr("openat"), Errno: 2, Count: 8},
		},
		lats: []bpf.LatencyCount{{CgroupID: 5, Nr: nr("fsync"), Count: 1, SumNs: 1_000_000, Buckets: buckets(10, 1)}},
	}
	if err := retired.Absorb(ended, labels, syscalls.ArchAMD64, []uint64{5, 6}, func() error { return nil }); err != nil {
		t.Fatal(err)
	}
	delete(labels, 5)
	delete(labels, 6) // gone: its pod was deleted
	f := New(Deps{
		Source: src, Labels: labels, Arch: syscalls.ArchAMD64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:    func(ns uint64) time.Time { return t0.Add(time.Duration(ns)) },
		Options:  &Options{enabled: map[string]*bool{}},
		Retired:  retired,
		Released: released{written: 300, overwritten: 100},
	})
	return f, src
}

// Restarted runs add up, retired runs carry over while their container
// lives, unlabelled cgroups wait, and futex waits and wakes are apart.
func TestErrorsAndSyscallsMergeRuns(t *testing.T) {
	f, _ := newFixture(t)
	want := `
# HELP flightrec_syscall_errors_total Syscalls that returned an error (-4095..-1), by errno name, counted in the kernel at sys_exit. With OpenMetrics, the exemplar names the latest failure: the ring of the run (cgroup_id) and its record (seq): /dump?...&cgroup_id=ID&around=SEQ shows it.
# TYPE flightrec_syscall_errors_total counter
flightrec_syscall_errors_total{container="app",errno="EACCES",namespace="shop",pod="web-0",syscall="openat"} 15
flightrec_syscall_errors_total{container="app",errno="ENOMEM",namespace="shop",pod="web-0",syscall="mmap"} 1
flightrec_syscall_errors_total{container="proxy",errno="ECONNREFUSED",namespace="shop",pod="web-0",syscall="connect"} 4
# HELP flightrec_syscalls_total Calls of the watched syscalls, counted in the kernel at sys_exit. For futex, op is wait (the caller blocks: contention) or wake; empty for other syscalls.
# TYPE flightrec_syscalls_total counter
flightrec_syscalls_total{container="app",namespace="shop",op="",pod="web-0",syscall="fsync"} 3
flightrec_syscalls_total{container="proxy",namespace="shop",op="wait",pod="web-0",syscall="futex"} 5
flightrec_syscalls_total{container="proxy",namespace="shop",op="wake",pod="web-0",syscall="futex"} 7
`
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "flightrec_syscall_errors_total", "flightrec_syscalls_total"); err != nil {
		t.Error(err)
	}
}

// The whole scrape in OpenMetrics, exemplars included, against the golden
// file; the scrape's own duration and the host's bpf_stats setting vary and
// are left out.
func TestMetricsGolden(t *testing.T) {
	f, _ := newFixture(t)
	reg := prometheus.NewRegistry()
	reg.MustRegister(f)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeOpenMetrics))
	for _, mf := range mfs {
		switch mf.GetName() {
		case "flightrec_scrape_collector_duration_seconds", "flightrec_recorder_bpf_stats_enabled":
			continue
		}
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	if c, ok := enc.(expfmt.Closer); ok {
		_ = c.Close()
	}
	golden.Compare(t, "metrics", buf.String())
	// The exemplar of app's EACCES names the newest failing record of its
	// two runs: cgroup 1's seq 4017.
	for _, mf := range mfs {
		if mf.GetName() != "flightrec_syscall_errors_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "container") == "app" && labelValue(m, "errno") == "EACCES" {
				ex := m.GetCounter().GetExemplar()
				got := map[string]string{}
				for _, l := range ex.GetLabel() {
					got[l.GetName()] = l.GetValue()
				}
				if got["seq"] != "4017" || got["cgroup_id"] != "1" {
					t.Errorf("exemplar %v, want cgroup_id 1, seq 4017", ex)
				}
			}
		}
	}
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
