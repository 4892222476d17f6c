// Package frozen keeps the rings of containers whose cgroup went away,
// copied out of the kernel before the ring was reused (the previous=true
// dump), bounded by age, count and bytes, and optionally saved to disk.
package frozen

import (
	"encoding/gob"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Ring is the ring of a container whose cgroup went away, copied out of
// the kernel before the ring was reused: the `previous` dump.
type Ring struct {
	CgroupID    uint64
	Cgroup      string
	Labels      containers.Labels // zero until the container is named (Named)
	FrozenAt    time.Time
	Ended       string // how the container ended: "exited with 1", "killed by SIGSEGV", "OOM killed", "unknown"
	Written     uint64
	Overwritten uint64
	Torn        uint64
	Records     []bpf.Record
	Restarts    *int   // Kubernetes: restarts of the container before this run
	MainPID     uint32 // the container's main process (bpf.Ring.MainPID)
	Incidents   uint64 // incidents put on its tape (bpf.Ring.Incidents)
	Suppressed  uint64 // of those, kept without context
	AppSeq      uint64 // the record that started the entrypoint (bpf.Ring.AppSeq)
	Late        bool   // the ring was assigned after the container's first syscall (bpf.Ring.Late)
	bytes       int64
}

// Limits bound the frozen rings kept in memory.
type Limits struct {
	Retention time.Duration // age
	MaxRings  int           // count
	MaxBytes  int64         // estimated memory
}

// Named reports whether the ring's container has its names.
func (f *Ring) Named() bool { return f.Labels != (containers.Labels{}) }

// Namer names the container of a ring frozen before it had names: a run
// that ended before the runtime or the API server knew it.
type Namer interface {
	NameOf(cgroupPath string) (labels containers.Labels, restarts *int, ok bool)
}

// Store keeps frozen rings, newest last, within Limits.
type Store struct {
	limits Limits
	namer  Namer

	mu      sync.Mutex
	frozen  []*Ring
	evicted uint64
	dir     string // state dir, "" = memory only
	saveErr error
}

// NewStore returns an empty store; namer (may be nil) names the rings
// frozen without names when they are read.
func NewStore(l Limits, namer Namer) *Store { return &Store{limits: l, namer: namer} }

// nameLocked asks the namer again for the rings frozen without names.
func (s *Store) nameLocked() {
	if s.namer == nil {
		return
	}
	changed := false
	for i, f := range s.frozen {
		if f.Named() {
			continue
		}
		if l, restarts, ok := s.namer.NameOf(f.Cgroup); ok {
			// A copy: readers may hold the unnamed one.
			named := *f
			named.Labels, changed = l, true
			if named.Restarts == nil {
				named.Restarts = restarts
			}
			s.frozen[i] = &named
		}
	}
	if changed {
		s.saveErr = s.saveLocked()
	}
}

// Freeze builds a frozen ring from a snapshot and keeps it.
func (s *Store) Freeze(snap bpf.Snapshot, path string, labels containers.Labels, restarts *int, now time.Time) *Ring {
	f := &Ring{
		Restarts: restarts,
		CgroupID: snap.Ring.CgroupID, Cgroup: path, Labels: labels, FrozenAt: now,
		Ended: howItEnded(snap.Ring, snap.Records), Written: snap.Ring.Written,
		MainPID: snap.Ring.MainPID, AppSeq: snap.Ring.AppSeq, Incidents: snap.Ring.Incidents, Suppressed: snap.Ring.Suppressed,
		Overwritten: snap.Ring.Overwritten(), Torn: snap.Torn, Records: snap.Records, Late: snap.Ring.Late,
	}
	f.bytes = estimateBytes(snap.Records)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.frozen = append(s.frozen, f)
	s.expireLocked(now)
	s.saveErr = s.saveLocked()
	return f
}

// SaveError is the error of the last save to the state dir, if any.
func (s *Store) SaveError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saveErr
}

// estimateBytes is the memory a frozen ring holds, for the byte budget.
func estimateBytes(recs []bpf.Record) int64 {
	n := int64(256)
	for i := range recs {
		r := &recs[i]
		n += 200 + int64(len(r.Comm)+len(r.Str1)+len(r.Str2)+len(r.Sockaddr)+len(r.Buf))
		for _, a := range r.Argv {
			n += 24 + int64(len(a))
		}
	}
	return n
}

// Expire drops frozen rings older than the retention.
func (s *Store) Expire(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireLocked(now)
}

func (s *Store) expireLocked(now time.Time) {
	var total int64
	for _, f := range s.frozen {
		total += f.bytes
	}
	drop := 0
	for drop < len(s.frozen) {
		f := s.frozen[drop]
		tooOld := s.limits.Retention > 0 && now.Sub(f.FrozenAt) > s.limits.Retention
		tooMany := s.limits.MaxRings > 0 && len(s.frozen)-drop > s.limits.MaxRings
		tooBig := s.limits.MaxBytes > 0 && total > s.limits.MaxBytes
		if !tooOld && !tooMany && !tooBig {
			break
		}
		total -= f.bytes
		drop++
	}
	if drop > 0 {
		s.evicted += uint64(drop)
		s.frozen = append([]*Ring(nil), s.frozen[drop:]...)
		s.saveErr = s.saveLocked()
	}
}

// All returns the frozen rings, oldest first.
func (s *Store) All() []*Ring {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nameLocked()
	return append([]*Ring(nil), s.frozen...)
}

// Stats reports the store's size for metrics.
func (s *Store) Stats() (rings int, bytes int64, evicted uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.frozen {
		bytes += f.bytes
	}
	return len(s.frozen), bytes, s.evicted
}

var (
	ringsDesc = prometheus.NewDesc("flightrec_dump_frozen_rings",
		"Rings of removed containers kept in memory for previous=true dumps.", nil, nil)
	bytesDesc = prometheus.NewDesc("flightrec_dump_frozen_bytes",
		"Estimated memory of the frozen rings (--dump.max-frozen-bytes bounds it).", nil, nil)
	evictedDesc = prometheus.NewDesc("flightrec_dump_frozen_evicted_total",
		"Frozen rings dropped by the retention, count or byte bounds.", nil, nil)
)

// Describe and Collect make the store a prometheus.Collector of what it
// holds.
func (s *Store) Describe(ch chan<- *prometheus.Desc) {
	ch <- ringsDesc
	ch <- bytesDesc
	ch <- evictedDesc
}

// Collect reports the rings kept, their bytes and the rings dropped.
func (s *Store) Collect(ch chan<- prometheus.Metric) {
	n, bytes, evicted := s.Stats()
	ch <- prometheus.MustNewConstMetric(ringsDesc, prometheus.GaugeValue, float64(n))
	ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.GaugeValue, float64(bytes))
	ch <- prometheus.MustNewConstMetric(evictedDesc, prometheus.CounterValue, float64(evicted))
}

// Previous returns the n-th most recent frozen ring (n ≥ 1) among those
// match accepts.
func (s *Store) Previous(n int, match func(*Ring) bool) (*Ring, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nameLocked()
	for i := len(s.frozen) - 1; i >= 0; i-- {
		if match(s.frozen[i]) {
			n--
			if n == 0 {
				return s.frozen[i], true
			}
		}
	}
	return nil, false
}

// howItEnded says how a container ended: how its main process did, as the
// kernel kept it with the ring (a child left behind dies later, killed or
// not, and says nothing about the container). Where the main process is
// not known, it reads the end of the records: the last exit of a whole
// process (a thread group), by code or signal, and whether the OOM killer
// chose it.
func howItEnded(ring bpf.Ring, recs []bpf.Record) string {
	switch {
	case ring.MainOOMKilled:
		return "OOM killed"
	case ring.MainExited:
		return syscalls.DecodeWaitStatus(int(ring.MainStatus)).String()
	}
	var last *bpf.Record
	for i := range recs {
		r := &recs[i]
		if r.Nr == bpf.EventProcessExit && r.Args[1] == bpf.ExitGroupDead && (last == nil || r.Seq > last.Seq) {
			last = r
		}
	}
	if last == nil {
		return "unknown"
	}
	for i := range recs {
		if recs[i].Nr == bpf.EventOOMKill && recs[i].PID == last.PID {
			return "OOM killed"
		}
	}
	return syscalls.DecodeWaitStatus(int(last.Args[0])).String()
}

const stateFile = "frozen-rings.gob"

// Persist makes the store save its frozen rings in dir after every change,
// and loads the ones saved there by an earlier exporter (dropping those the
// limits no longer allow). It returns how many it loaded.
func (s *Store) Persist(dir string, now time.Time) (int, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return 0, err
	}
	var loaded []*Ring
	f, err := os.Open(filepath.Join(dir, stateFile))
	switch {
	case err == nil:
		derr := gob.NewDecoder(f).Decode(&loaded)
		f.Close()
		if derr != nil {
			// A torn or foreign file must not stop the exporter: start empty.
			loaded = nil
		}
	case !errors.Is(err, os.ErrNotExist):
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dir = dir
	for _, f := range loaded {
		f.bytes = estimateBytes(f.Records)
	}
	s.frozen = append(loaded, s.frozen...)
	s.expireLocked(now)
	return len(s.frozen), s.saveLocked()
}

// saveLocked writes the frozen rings to the state dir, atomically.
func (s *Store) saveLocked() error {
	if s.dir == "" {
		return nil
	}
	tmp, err := os.CreateTemp(s.dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("saving frozen rings: %w", err)
	}
	if err := gob.NewEncoder(tmp).Encode(s.frozen); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("saving frozen rings: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("saving frozen rings: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(s.dir, stateFile)); err != nil {
		return fmt.Errorf("saving frozen rings: %w", err)
	}
	return nil
}
