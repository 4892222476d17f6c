package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
)

// LatencyBuckets is the number of log2 latency buckets per watched syscall;
// bucket i counts durations below 2^(LatencyMinShift+i) ns, the last is +Inf.
const (
	LatencyBuckets  = len(latVal{}.Buckets)
	LatencyMinShift = 10
)

// The counter maps' keys and values, as bpf2go generates them from
// recorder.h.
type (
	errKey = recorderErrKey
	errVal = recorderErrVal
	latKey = recorderLatKey
	latVal = recorderLatVal
)

// ErrorCount is how often one syscall failed with one errno in one cgroup.
type ErrorCount struct {
	CgroupID uint64
	Nr       int
	Errno    int
	Count    uint64
	LastSeq  uint64 // ring record of the latest failure (0: no ring)
	LastNs   uint64 // CLOCK_MONOTONIC of the latest failure with a ring record
}

// ErrorCounts sums the kernel's per-CPU error counters and the error slots
// of the rings (struct err_slot in recorder.h).
func (r *Recorder) ErrorCounts() ([]ErrorCount, error) {
	var (
		k    errKey
		vals []errVal
		out  []ErrorCount
	)
	r.errorsMu.Lock()
	defer r.errorsMu.Unlock()
	at := map[errKey]int{}
	it := r.maps.Errors.Iterate()
	for it.Next(&k, &vals) {
		c := ErrorCount{CgroupID: k.CgroupId, Nr: int(k.Nr), Errno: int(k.Err)}
		for _, v := range vals {
			c.add(v)
		}
		at[k] = len(out)
		out = append(out, c)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading error counters: %w", err)
	}
	metas := make([]byte, r.cfg.MaxRings*ringMetaSize)
	_, _ = r.rings.ReadAt(metas, 0)
	for slot := 0; slot < r.cfg.MaxRings; slot++ {
		cgroupID, slots := parseErrorSlots(metas[slot*ringMetaSize : (slot+1)*ringMetaSize])
		for _, s := range slots {
			k := errKey{CgroupId: cgroupID, Nr: s.nr, Err: s.errno}
			i, ok := at[k]
			if !ok {
				i = len(out)
				at[k] = i
				out = append(out, ErrorCount{CgroupID: cgroupID, Nr: int(s.nr), Errno: int(s.errno)})
			}
			out[i].add(s.errVal)
		}
	}
	return out, nil
}

func (c *ErrorCount) add(v errVal) {
	c.Count += v.Count
	if v.LastNs > c.LastNs {
		c.LastNs, c.LastSeq = v.LastNs, v.LastSeq
	}
}

// errorSlot is one used struct err_slot of a ring.
type errorSlot struct {
	nr, errno uint32
	errVal
}

// errorSlots reads the used error slots of the ring in slot and the cgroup
// that owns it (0: the ring is free).
func (r *Recorder) errorSlots(slot uint32) (uint64, []errorSlot) {
	var b [ringMetaSize]byte
	_, _ = r.rings.ReadAt(b[:], int64(slot)*int64(ringMetaSize))
	return parseErrorSlots(b[:])
}

// parseErrorSlots decodes one struct ring_meta. The kernel adds to the
// slots atomically; each 8-byte word is copied whole, and counts only grow.
func parseErrorSlots(b []byte) (uint64, []errorSlot) {
	bo := binary.NativeEndian
	cgroupID := bo.Uint64(b[offMetaCgroup:])
	if cgroupID == 0 {
		return 0, nil
	}
	var out []errorSlot
	for i := 0; i < errCacheSlots; i++ {
		e := b[offMetaErrs+i*errSlotSize:]
		key, count := bo.Uint64(e[offSlotKey:]), bo.Uint64(e[offSlotCount:])
		if key == 0 || count == 0 {
			continue
		}
		out = append(out, errorSlot{nr: uint32(key >> 32), errno: uint32(key),
			errVal: errVal{Count: count, LastSeq: bo.Uint64(e[offSlotLastSeq:]), LastNs: bo.Uint64(e[offSlotLastNs:])}})
	}
	return cgroupID, out
}

// foldErrorSlots adds the error slots of a released ring to the errors map,
// under errorsMu, and returns the failures it found no room for.
func (r *Recorder) foldErrorSlots(cgroupID uint64, slot uint32) (lost uint64) {
	owner, slots := r.errorSlots(slot)
	if owner != cgroupID {
		return 0
	}
	cpus, err := ebpf.PossibleCPU()
	for _, s := range slots {
		if err != nil {
			lost += s.Count // no per-CPU value can be built
			continue
		}
		k := errKey{CgroupId: cgroupID, Nr: s.nr, Err: s.errno}
		var vals []errVal
		if err := r.maps.Errors.Lookup(k, &vals); err != nil || len(vals) == 0 {
			vals = make([]errVal, cpus)
		}
		// Readers keep the latest failure over all CPUs' values: the
		// slot's goes into CPU 0's, which is read like any other.
		vals[0].Count += s.Count
		if s.LastNs > vals[0].LastNs {
			vals[0].LastNs, vals[0].LastSeq = s.LastNs, s.LastSeq
		}
		if err := r.maps.Errors.Update(k, vals, ebpf.UpdateAny); err != nil {
			lost += s.Count
		}
	}
	return lost
}

// LatencyCount is the calls and latency histogram of one watched syscall
// (and futex command) in one cgroup.
type LatencyCount struct {
	CgroupID uint64
	Nr       int
	Op       uint32 // futex command, else 0
	Count    uint64
	SumNs    uint64
	Buckets  [LatencyBuckets]uint64 // not cumulative
}

// Latencies sums the kernel's per-CPU watched-syscall counters.
func (r *Recorder) Latencies() ([]LatencyCount, error) {
	var (
		k    latKey
		vals []latVal
		out  []LatencyCount
	)
	it := r.maps.Latencies.Iterate()
	for it.Next(&k, &vals) {
		c := LatencyCount{CgroupID: k.CgroupId, Nr: int(k.Nr), Op: k.Op}
		for _, v := range vals {
			c.Count += v.Count
			c.SumNs += v.SumNs
			for i, b := range v.Buckets {
				c.Buckets[i] += b
			}
		}
		out = append(out, c)
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("reading latency counters: %w", err)
	}
	return out, nil
}

// ForgetCounters deletes the counters of the given cgroups, once their
// series have had time to be scraped after the cgroup went away.
func (r *Recorder) ForgetCounters(gone map[uint64]bool) error {
	var errs []error
	var ek errKey
	var ekeys []errKey
	it := r.maps.Errors.Iterate()
	var ev []errVal
	for it.Next(&ek, &ev) {
		if gone[ek.CgroupId] {
			ekeys = append(ekeys, ek)
		}
	}
	errs = append(errs, it.Err())
	for _, k := range ekeys {
		if err := r.maps.Errors.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	var lk latKey
	var lkeys []latKey
	var lv []latVal
	it = r.maps.Latencies.Iterate()
	for it.Next(&lk, &lv) {
		if gone[lk.CgroupId] {
			lkeys = append(lkeys, lk)
		}
	}
	errs = append(errs, it.Err())
	for _, k := range lkeys {
		if err := r.maps.Latencies.Delete(k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("forgetting counters: %w", err)
	}
	return nil
}

// CounterCgroups lists the cgroups that have error or latency counters.
func (r *Recorder) CounterCgroups() ([]uint64, error) {
	seen := map[uint64]bool{}
	var ek errKey
	var ev []errVal
	it := r.maps.Errors.Iterate()
	for it.Next(&ek, &ev) {
		seen[ek.CgroupId] = true
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing error counters: %w", err)
	}
	var lk latKey
	var lv []latVal
	it = r.maps.Latencies.Iterate()
	for it.Next(&lk, &lv) {
		seen[lk.CgroupId] = true
	}
	if err := it.Err(); err != nil {
		return nil, fmt.Errorf("listing latency counters: %w", err)
	}
	out := make([]uint64, 0, len(seen))
	for id := range seen {
		out = append(out, id)
	}
	return out, nil
}
