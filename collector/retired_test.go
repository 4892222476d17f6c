package collector

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// racingSource is a kernel whose counters of a run that ended are retired
// while a scrape reads them: the first ErrorCounts call (the scrape's)
// starts the retiring and gives it until it is done, or a while, before it
// returns what it read.
type racingSource struct {
	fakeSource
	mu      sync.Mutex
	started bool
	retire  func()
}

func (s *racingSource) ErrorCounts() ([]bpf.ErrorCount, error) {
	s.mu.Lock()
	errs := append([]bpf.ErrorCount(nil), s.errs...)
	first := !s.started
	s.started = true
	s.mu.Unlock()
	if first {
		done := make(chan struct{})
		go func() { s.retire(); close(done) }()
		// With the handover, the retiring waits for this scrape; without
		// it, it moves the count now, and the scrape counts it twice.
		select {
		case <-done:
		case <-time.After(200 * time.Millisecond):
		}
	}
	return errs, nil
}

// A restarted container's first run is retired (its kernel counters move
// to the retired totals and are deleted) during a scrape: the scrape
// counts its failure once. Found on real ground: test/kubernetes read the
// counter at 2 for a scrape, then 1 again, which rate() takes for a reset.
func TestRetiringDuringAScrapeCountsOnce(t *testing.T) {
	openat := nr("openat")
	src := &racingSource{fakeSource: fakeSource{errs: []bpf.ErrorCount{{CgroupID: 1, Nr: openat, Errno: 13, Count: 1}}}}
	labels := labeler{1: app, 2: app} // run 1 ended, run 2 lives
	retired := NewRetired()
	retiredDone := make(chan error, 1)
	src.retire = func() {
		retiredDone <- retired.Absorb(src, labels, syscalls.ArchAMD64, []uint64{1}, func() error {
			src.mu.Lock()
			src.errs = nil
			src.mu.Unlock()
			return nil
		})
	}
	f := retiringCollector(src, labels, retired)
	want := `
# HELP flightrec_syscall_errors_total Syscalls that returned an error (-4095..-1), by errno name, counted in the kernel at sys_exit. With OpenMetrics, the exemplar names the latest failure: the ring of the run (cgroup_id) and its record (seq): /dump?...&cgroup_id=ID&around=SEQ shows it.
# TYPE flightrec_syscall_errors_total counter
flightrec_syscall_errors_total{container="app",errno="EACCES",namespace="shop",pod="web-0",syscall="openat"} 1
`
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "flightrec_syscall_errors_total"); err != nil {
		t.Errorf("the scrape during the retiring: %v", err)
	}
	if err := <-retiredDone; err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "flightrec_syscall_errors_total"); err != nil {
		t.Errorf("the scrape after it: %v", err)
	}
}

// The kernel's counters of an ended run could not be deleted: the retired
// totals stay as they were (the counts are still the kernel's), and the
// next try retires them once. Before, the counts were added first and the
// failed deletion left them counted twice until the exporter restarted.
func TestFailedForgetRetiresNothing(t *testing.T) {
	openat := nr("openat")
	src := &fakeSource{errs: []bpf.ErrorCount{{CgroupID: 1, Nr: openat, Errno: 13, Count: 1}}}
	labels := labeler{1: app, 2: app} // run 1 ended, run 2 lives
	retired := NewRetired()
	f := retiringCollector(src, labels, retired)
	want := `
# HELP flightrec_syscall_errors_total Syscalls that returned an error (-4095..-1), by errno name, counted in the kernel at sys_exit. With OpenMetrics, the exemplar names the latest failure: the ring of the run (cgroup_id) and its record (seq): /dump?...&cgroup_id=ID&around=SEQ shows it.
# TYPE flightrec_syscall_errors_total counter
flightrec_syscall_errors_total{container="app",errno="EACCES",namespace="shop",pod="web-0",syscall="openat"} 1
`
	failing := errors.New("deleting the counters failed")
	if err := retired.Absorb(src, labels, syscalls.ArchAMD64, []uint64{1}, func() error { return failing }); !errors.Is(err, failing) {
		t.Fatalf("Absorb with a failing deletion: %v, want its error", err)
	}
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "flightrec_syscall_errors_total"); err != nil {
		t.Errorf("after the failed retiring: %v", err)
	}
	if err := retired.Absorb(src, labels, syscalls.ArchAMD64, []uint64{1}, func() error { src.errs = nil; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := testutil.CollectAndCompare(f, strings.NewReader(want), "flightrec_syscall_errors_total"); err != nil {
		t.Errorf("after the retiring: %v", err)
	}
}

// retiringCollector is the exporter's collector over src, with retired
// totals.
func retiringCollector(src Source, labels labeler, retired *Retired) *Flightrec {
	return New(Deps{
		Source: src, Labels: labels, Arch: syscalls.ArchAMD64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock:    func(ns uint64) time.Time { return t0.Add(time.Duration(ns)) },
		Options:  &Options{enabled: map[string]*bool{}},
		Retired:  retired,
		Released: released{},
	})
}
