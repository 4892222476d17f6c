package collector

import (
	"sync"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Retired keeps the final counts of cgroups whose kernel counters were
// deleted (a container run that ended), for as long as the container they
// belong to lives on in another run. Without it a restarted container's
// counters would drop when its old run's counters expire, and rate() and
// increase() would read the drop as a reset.
type Retired struct {
	// handover orders a scrape's reading of the kernel's counters and of
	// the retired totals against moving counts from the one to the other
	// (Absorb, then the kernel's are deleted): a scrape in between would
	// count them twice, or not at all, and rate() would read the dip
	// after the double count as a reset.
	handover sync.RWMutex
	mu       sync.Mutex
	errs     map[[5]string]uint64
	lats     map[[5]string]*latencySeries
}

// NewRetired returns an empty store.
func NewRetired() *Retired {
	return &Retired{errs: map[[5]string]uint64{}, lats: map[[5]string]*latencySeries{}}
}

// Absorb adds the current counts of the cgroups ids to the retired totals
// of their labels, then calls forget, which deletes them from the kernel
// maps; no scrape reads the counters in between. The totals change only
// once forget succeeded: when it fails, the counts are still the kernel's,
// and a later Absorb of the same ids retires them (a deletion that fails
// part-way loses the counts it did delete; the kernel's deletions do not
// fail for keys that exist).
func (r *Retired) Absorb(src Source, labels Labeler, arch interface{ Name(int) string }, ids []uint64, forget func() error) error {
	r.handover.Lock()
	defer r.handover.Unlock()
	errs, lats, err := retiredCounts(src, labels, arch, ids)
	if err != nil {
		return err
	}
	if err := forget(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for key, n := range errs {
		r.errs[key] += n
	}
	for key, l := range lats {
		s := r.lats[key]
		if s == nil {
			s = &latencySeries{labels: key}
			r.lats[key] = s
		}
		s.merge(l)
	}
	return nil
}

// reading holds off Absorb while a scrape reads the kernel's counters and
// merges the retired totals; the caller calls the function it returns
// when done. Nil-safe.
func (r *Retired) reading() (done func()) {
	if r == nil {
		return func() {}
	}
	r.handover.RLock()
	return r.handover.RUnlock
}

// retiredCounts are the kernel's counts of the cgroups ids, by labels.
func retiredCounts(src Source, labels Labeler, arch interface{ Name(int) string }, ids []uint64) (map[[5]string]uint64, map[[5]string]*latencySeries, error) {
	gone := make(map[uint64]bool, len(ids))
	for _, id := range ids {
		gone[id] = true
	}
	errs, err := src.ErrorCounts()
	if err != nil {
		return nil, nil, err
	}
	lats, err := src.Latencies()
	if err != nil {
		return nil, nil, err
	}
	errTotals := map[[5]string]uint64{}
	for _, e := range errs {
		if !gone[e.CgroupID] {
			continue
		}
		if l, ok := labels.Labels(e.CgroupID); ok {
			errTotals[errorKey(l, arch.Name(e.Nr), e.Errno)] += e.Count
		}
	}
	latTotals := map[[5]string]*latencySeries{}
	for _, lc := range lats {
		if !gone[lc.CgroupID] {
			continue
		}
		if l, ok := labels.Labels(lc.CgroupID); ok {
			key := latencyKey(l, arch.Name(lc.Nr), lc.Op)
			s := latTotals[key]
			if s == nil {
				s = &latencySeries{labels: key}
				latTotals[key] = s
			}
			s.add(lc)
		}
	}
	return errTotals, latTotals, nil
}

// mergeErrors adds retired totals to series of live containers and drops
// those of containers that are gone.
func (r *Retired) mergeErrors(series map[[5]string]*errorSeries, alive map[containers.Labels]bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mergeRetired(r.errs, series, alive,
		func(key [5]string) *errorSeries { return &errorSeries{labels: key} },
		func(s *errorSeries, n uint64) { s.count += n })
}

// mergeLatencies is mergeErrors for the watched syscalls' histograms.
func (r *Retired) mergeLatencies(series map[[5]string]*latencySeries, alive map[containers.Labels]bool) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	mergeRetired(r.lats, series, alive,
		func(key [5]string) *latencySeries { return &latencySeries{labels: key} },
		(*latencySeries).merge)
}

// mergeRetired adds each retired value to its series, made with newSeries
// when the scrape has none, while the container the key names is alive; the
// values of containers that are gone are forgotten.
func mergeRetired[V, S any](retired map[[5]string]V, series map[[5]string]*S, alive map[containers.Labels]bool,
	newSeries func([5]string) *S, add func(*S, V)) {
	for key, v := range retired {
		if !alive[containers.Labels{Namespace: key[0], Pod: key[1], Container: key[2]}] {
			delete(retired, key)
			continue
		}
		s := series[key]
		if s == nil {
			s = newSeries(key)
			series[key] = s
		}
		add(s, v)
	}
}

func errorKey(l containers.Labels, syscall string, errno int) [5]string {
	return [5]string{l.Namespace, l.Pod, l.Container, syscall, syscalls.ErrnoName(errno)}
}

func latencyKey(l containers.Labels, syscall string, op uint32) [5]string {
	return [5]string{l.Namespace, l.Pod, l.Container, syscall, opLabel(syscall, op)}
}

// merge adds the counts of o to s.
func (s *latencySeries) merge(o *latencySeries) {
	s.count += o.count
	s.sumNs += o.sumNs
	for i, b := range o.buckets {
		s.buckets[i] += b
	}
}

func (s *latencySeries) add(l bpf.LatencyCount) {
	s.count += l.Count
	s.sumNs += l.SumNs
	for i, b := range l.Buckets {
		s.buckets[i] += b
	}
}
