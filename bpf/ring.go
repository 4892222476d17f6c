package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sort"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
)

// Layout of struct ring_meta and its struct err_slot array, from the
// types bpf2go generated (TestRecordLayout checks them against the BTF).
var ringMeta recorderRingMeta

const (
	ringMetaSize      = int(unsafe.Sizeof(ringMeta))
	offMetaCgroup     = int(unsafe.Offsetof(ringMeta.CgroupId))
	offMetaHead       = int(unsafe.Offsetof(ringMeta.Head))
	offMetaExitLost   = int(unsafe.Offsetof(ringMeta.ExitLost))
	offMetaCreatedNs  = int(unsafe.Offsetof(ringMeta.CreatedNs))
	offMetaSetup      = int(unsafe.Offsetof(ringMeta.Setup))
	offMetaMainPID    = int(unsafe.Offsetof(ringMeta.MainPid))
	offMetaAppSeq     = int(unsafe.Offsetof(ringMeta.AppSeq))
	offMetaMainStatus = int(unsafe.Offsetof(ringMeta.MainStatus))
	offMetaMainFlags  = int(unsafe.Offsetof(ringMeta.MainFlags))
	offMetaLarge      = int(unsafe.Offsetof(ringMeta.Large))
	offMetaLate       = int(unsafe.Offsetof(ringMeta.Late))
	offMetaFirstTaken = int(unsafe.Offsetof(ringMeta.FirstTaken))
	offMetaLatestHead = int(unsafe.Offsetof(ringMeta.LatestHead))
	offMetaKept       = int(unsafe.Offsetof(ringMeta.Kept))
	offMetaErrs       = int(unsafe.Offsetof(ringMeta.Errs))

	errCacheSlots  = len(ringMeta.Errs)
	errSlotSize    = int(unsafe.Sizeof(ringMeta.Errs[0]))
	offSlotKey     = int(unsafe.Offsetof(ringMeta.Errs[0].Key))
	offSlotCount   = int(unsafe.Offsetof(ringMeta.Errs[0].Count))
	offSlotLastSeq = int(unsafe.Offsetof(ringMeta.Errs[0].LastSeq))
	offSlotLastNs  = int(unsafe.Offsetof(ringMeta.Errs[0].LastNs))
)

// Ring describes one container's ring.
type Ring struct {
	CgroupID  uint64
	Slot      uint32
	Written   uint64 // records ever written (the newest sequence number)
	ExitLost  uint64 // exits whose entry record was overwritten first
	CreatedNs uint64 // CLOCK_MONOTONIC when the ring was assigned
	// Capacity is how many records the ring holds in its size class;
	// Large says the ring was promoted to the large class.
	Capacity int
	Large    bool
	// Late says the container was refused a ring at its first syscall
	// (none was ready) and got this one later: the ring begins mid-life,
	// and its main process is not known.
	Late bool

	// Setup is true while the container runtime sets the container up:
	// its entrypoint has not started yet.
	Setup bool
	// MainPID is the container's main process (the entrypoint, or the
	// first task of a cgroup without a runtime); 0 until it starts.
	MainPID uint32
	// AppSeq is the record of the execve that started the entrypoint; 0
	// where no runtime ran.
	AppSeq uint64
	// MainExited says the main process has ended, as MainStatus (a wait
	// status) says; MainOOMKilled that the OOM killer chose it.
	MainExited, MainOOMKilled bool
	MainStatus                uint32

	// Incidents counts the incidents put on the ring's tape, Suppressed
	// those of them kept without context (over the rate).
	Incidents, Suppressed uint64
}

// Overwritten is the number of records the ring no longer holds.
func (r Ring) Overwritten() uint64 {
	if r.Written <= uint64(r.Capacity) {
		return 0
	}
	return r.Written - uint64(r.Capacity)
}

// Rings lists the containers that have a ring, and the cgroup ids of those
// that were refused one (no ring was ready: the memory budget or the slots spent).
func (r *Recorder) Rings() (rings []Ring, untracked []uint64, err error) {
	var (
		cgid uint64
		c    struct{ Slot, Pad uint32 }
	)
	it := r.maps.Containers.Iterate()
	for it.Next(&cgid, &c) {
		if c.Slot == slotUntracked {
			untracked = append(untracked, cgid)
			continue
		}
		if c.Slot >= uint32(r.cfg.MaxRings) {
			continue
		}
		ring := r.ringMeta(c.Slot)
		ring.CgroupID = cgid
		rings = append(rings, ring)
	}
	if err := it.Err(); err != nil {
		return nil, nil, fmt.Errorf("listing containers: %w", err)
	}
	return rings, untracked, nil
}

func (r *Recorder) ringMeta(slot uint32) Ring {
	var b [ringMetaSize]byte
	_, _ = r.rings.ReadAt(b[:], int64(slot)*int64(ringMetaSize))
	bo := binary.NativeEndian
	flags := bo.Uint32(b[offMetaMainFlags:])
	ring := Ring{
		Slot:          slot,
		Written:       bo.Uint64(b[offMetaHead:]),
		ExitLost:      bo.Uint64(b[offMetaExitLost:]),
		CreatedNs:     bo.Uint64(b[offMetaCreatedNs:]),
		Setup:         bo.Uint32(b[offMetaSetup:]) != 0,
		MainPID:       bo.Uint32(b[offMetaMainPID:]),
		AppSeq:        bo.Uint64(b[offMetaAppSeq:]),
		MainExited:    flags&uint32(recorderMainFlagMAIN_EXITED) != 0,
		MainOOMKilled: flags&uint32(recorderMainFlagMAIN_OOM_KILLED) != 0,
		MainStatus:    bo.Uint32(b[offMetaMainStatus:]),
		Large:         bo.Uint32(b[offMetaLarge:]) != 0,
		Late:          bo.Uint32(b[offMetaLate:]) != 0,
	}
	ring.Capacity = r.cfg.geometry(classSmall).Records
	if ring.Large {
		ring.Capacity = r.cfg.geometry(classLarge).Records
	}
	// Every incident took a tape entry: one of the first (while any was
	// left) or one of the latest.
	first := min(bo.Uint64(b[offMetaFirstTaken:]), uint64(r.cfg.Incidents.First))
	ring.Incidents = first + bo.Uint64(b[offMetaLatestHead:])
	ring.Suppressed = ring.Incidents - min(bo.Uint64(b[offMetaKept:]), ring.Incidents)
	return ring
}

// Snapshot is a consistent copy of a ring's records, oldest first.
type Snapshot struct {
	Ring    Ring
	Records []Record
	// Torn counts records that were overwritten or still being written while
	// they were copied; they are dropped, never returned half-written.
	Torn uint64
}

// Read copies the records of the ring in slot, which must still belong to
// cgroupID. Recording goes on while it reads.
func (r *Recorder) Read(cgroupID uint64, slot uint32) (Snapshot, error) {
	if slot >= uint32(r.cfg.MaxRings) {
		return Snapshot{}, fmt.Errorf("ring %d: no such slot", slot)
	}
	r.pool.mu.RLock()
	defer r.pool.mu.RUnlock()
	if owner := r.ringOwner(slot); owner != cgroupID {
		return Snapshot{}, fmt.Errorf("ring %d: no longer cgroup %d's (released, now %d's)", slot, cgroupID, owner)
	}
	m, g := r.ringFor(slot)
	if m == nil {
		return Snapshot{}, fmt.Errorf("ring %d: no map", slot)
	}
	ring := r.ringMeta(slot)
	ring.CgroupID = cgroupID
	ring.Capacity = g.Records
	snap := Snapshot{Ring: ring}
	size := uint64(g.Records)
	first := uint64(1)
	if ring.Written > size {
		first = ring.Written - size + 1
	}
	snap.Records, snap.Torn = readRange(first, ring.Written, func(seq uint64, buf []byte) (Record, bool) {
		return readRecordAt(m, int64(seq&(size-1))*RecordSize, seq, buf)
	})
	snap.Records = mergeTape(snap.Records, r.readTape(m, g))
	if owner := r.ringOwner(slot); owner != cgroupID {
		return Snapshot{}, fmt.Errorf("ring %d: released while it was read (now cgroup %d's)", slot, owner)
	}
	resolveProcessExits(snap.Records)
	return snap, nil
}

// ringOwner is the cgroup id the ring in slot belongs to; 0 when free.
func (r *Recorder) ringOwner(slot uint32) uint64 {
	var b [8]byte
	_, _ = r.rings.ReadAt(b[:], int64(slot)*int64(ringMetaSize)+int64(offMetaCgroup))
	return binary.NativeEndian.Uint64(b[:])
}

// readTape copies the incident tape of a ring, in its map m of layout g:
// each incident with the context records that are still the ones that
// preceded it.
func (r *Recorder) readTape(m *ringMap, g ringGeometry) []Record {
	in := r.cfg.Incidents
	if in.Off() {
		return nil
	}
	per := int64(in.Context + 1)
	buf := make([]byte, RecordSize)
	var out []Record
	for e := 0; e < in.First+g.Latest; e++ {
		base := int64(g.Records) + int64(e)*per
		inc, ok := readPublishedAt(m, base*RecordSize, buf)
		if !ok {
			continue
		}
		inc.Incident, inc.FromTape = true, true
		out = append(out, inc)
		for j := int64(1); j < per && uint64(j) < inc.Seq; j++ {
			ctx, ok := readRecordIf(m, (base+j)*RecordSize, buf, func(seq uint64) bool { return seq == inc.Seq-uint64(j) })
			if !ok {
				continue
			}
			ctx.FromTape = true
			out = append(out, ctx)
		}
	}
	return out
}

// mergeTape merges the records of the ring (contiguous, oldest first) with
// those of its tape: in sequence order, each record once. The ring's copy
// of a record is preferred (it may have finished since the tape's copy);
// it is marked as an incident when the tape says so.
func mergeTape(ring, tape []Record) []Record {
	if len(tape) == 0 {
		return ring
	}
	bySeq := make(map[uint64]int, len(ring)+len(tape))
	out := make([]Record, 0, len(ring)+len(tape))
	for _, rec := range ring {
		bySeq[rec.Seq] = len(out)
		out = append(out, rec)
	}
	for _, rec := range tape {
		if i, ok := bySeq[rec.Seq]; ok {
			out[i].Incident = out[i].Incident || rec.Incident
			continue
		}
		bySeq[rec.Seq] = len(out)
		out = append(out, rec)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}

// readRange reads the records first..last with read, counting those it
// could not read whole as torn.
func readRange(first, last uint64, read func(seq uint64, buf []byte) (Record, bool)) (records []Record, torn uint64) {
	buf := make([]byte, RecordSize)
	for seq := first; seq <= last; seq++ {
		rec, ok := read(seq, buf)
		if !ok {
			torn++
			continue
		}
		records = append(records, rec)
	}
	return records, torn
}

// readPublishedAt copies the record at off of mem, whatever its sequence
// number, under the seqlock protocol of readRecordAt; false while it is
// being written, never written, or changed while it was copied.
func readPublishedAt(mem io.ReaderAt, off int64, buf []byte) (Record, bool) {
	return readRecordIf(mem, off, buf, func(seq uint64) bool { return seq != 0 })
}

// readRecordIf copies the record at off of mem if its sequence number is
// one want accepts, and whole: the seqlock word is the same non-zero value
// before and after the copy.
func readRecordIf(mem io.ReaderAt, off int64, buf []byte, want func(seq uint64) bool) (Record, bool) {
	var s [8]byte
	load := func() uint64 {
		_, _ = mem.ReadAt(s[:], off)
		return binary.NativeEndian.Uint64(s[:])
	}
	before := load()
	if before == 0 || !want(before>>1) {
		return Record{}, false
	}
	_, _ = mem.ReadAt(buf, off)
	if load() != before {
		return Record{}, false
	}
	rec, err := ParseRecord(buf)
	return rec, err == nil
}

// readRecordAt copies the record at off of mem under the seqlock protocol
// of recorder.h: seq is 0 while a writer owns the record and changes
// whenever it is rewritten, so two equal non-zero reads around the copy
// prove the copy is whole.
func readRecordAt(mem io.ReaderAt, off int64, seq uint64, buf []byte) (Record, bool) {
	var s [8]byte
	load := func() uint64 {
		_, _ = mem.ReadAt(s[:], off)
		return binary.NativeEndian.Uint64(s[:])
	}
	for try := 0; try < 4; try++ {
		before := load()
		if before>>1 > seq {
			return Record{}, false // overwritten by a newer turn of the ring
		}
		if before == 0 || before>>1 < seq {
			runtime.Gosched() // reserved, not yet published
			continue
		}
		_, _ = mem.ReadAt(buf, off)
		if load() != before {
			continue
		}
		rec, err := ParseRecord(buf)
		if err != nil {
			return Record{}, false
		}
		rec.Seq = seq
		return rec, true
	}
	return Record{}, false
}

// Release frees the ring of a removed cgroup. Its large map, if any, goes
// (Drain frees it); its small map is wiped and offered again while fewer
// rings than the spares are ready, else left idle for a later container
// or for Drain. Callers copy what they want to keep (Read) first.
func (r *Recorder) Release(cgroupID uint64) error {
	var c struct{ Slot, Pad uint32 }
	if err := r.maps.Containers.Lookup(cgroupID, &c); err != nil {
		if errors.Is(err, ebpf.ErrKeyNotExist) {
			return nil
		}
		return fmt.Errorf("looking up cgroup %d: %w", cgroupID, err)
	}
	if err := r.maps.Containers.Delete(cgroupID); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("removing cgroup %d: %w", cgroupID, err)
	}
	if c.Slot == slotUntracked || c.Slot >= uint32(r.cfg.MaxRings) {
		return nil
	}
	r.errorsMu.Lock()
	defer r.errorsMu.Unlock()
	// The ring's failure counts move to the errors map, where they stay
	// until ForgetCounters. A failure the map has no room for is counted
	// as the kernel counts its own (errors_map_full); it must not keep the
	// ring from being freed.
	r.foldLost.Add(r.foldErrorSlots(cgroupID, c.Slot))
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	s := &r.pool.slots[c.Slot]
	// Writers of the removed cgroup are gone. A large map goes; the small
	// one is wiped and offered again while fewer than the spares are
	// ready, else it goes too (Drain frees them).
	var zero [4]byte
	if _, err := r.rings.WriteAt(zero[:], int64(c.Slot)*int64(ringMetaSize)+int64(offMetaLarge)); err != nil {
		return fmt.Errorf("switching ring %d back to small: %w", c.Slot, err)
	}
	s.retire(classLarge)
	if _, err := r.rings.WriteAt(make([]byte, ringMetaSize), int64(c.Slot)*int64(ringMetaSize)); err != nil {
		return fmt.Errorf("wiping ring %d metadata: %w", c.Slot, err)
	}
	if s.small == nil || s.smallDraining {
		return nil
	}
	clear(s.small.mem)
	s.idleSince = time.Now()
	if r.countReady() < r.spareTarget(time.Now()) {
		return r.offer(c.Slot, s)
	}
	return nil
}

// Stats are the kernel side's own counters, summed over CPUs.
type Stats struct {
	UntrackedSyscalls   uint64 // syscalls of containers without a ring
	ContainersAdded     uint64 // rings assigned
	ContainersUntracked uint64 // containers refused a ring
	ContainerMapFull    uint64 // containers not even counted: map full
	ExitLost            uint64 // exits whose entry was overwritten
	PayloadFaults       uint64 // user memory that could not be read
	ErrorsMapFull       uint64 // failed syscalls not counted: error map full
	LatencyMapFull      uint64 // watched syscalls not counted: latency map full
	CgroupEventsLost    uint64 // cgroup creations/removals lost: event buffer full
	Incidents           uint64 // incidents put on tapes
	IncidentsSuppressed uint64 // of those, kept without context (over the rate)
	ContainersLate      uint64 // of ContainersAdded, to containers refused a ring before
}

// Stats reads the kernel's counters.
func (r *Recorder) Stats() (Stats, error) {
	var out [recorderStatIndexSTAT_MAX]uint64
	// STAT_UNUSED is not read: records written are the sum of the ring heads.
	for i := recorderStatIndexSTAT_UNUSED + 1; i < recorderStatIndexSTAT_MAX; i++ {
		var perCPU []uint64
		if err := r.maps.Stats.Lookup(uint32(i), &perCPU); err != nil {
			return Stats{}, fmt.Errorf("reading stats: %w", err)
		}
		for _, v := range perCPU {
			out[i] += v
		}
	}
	return Stats{
		UntrackedSyscalls:   out[recorderStatIndexSTAT_UNTRACKED_SYSCALLS],
		ContainersAdded:     out[recorderStatIndexSTAT_CONTAINERS_ADDED],
		ContainersUntracked: out[recorderStatIndexSTAT_CONTAINERS_UNTRACKED],
		ContainerMapFull:    out[recorderStatIndexSTAT_CONTAINER_MAP_FULL],
		ExitLost:            out[recorderStatIndexSTAT_EXIT_LOST],
		PayloadFaults:       out[recorderStatIndexSTAT_PAYLOAD_FAULTS],
		ErrorsMapFull:       out[recorderStatIndexSTAT_ERRORS_MAP_FULL] + r.foldLost.Load(),
		LatencyMapFull:      out[recorderStatIndexSTAT_LATENCY_MAP_FULL],
		CgroupEventsLost:    out[recorderStatIndexSTAT_CGROUP_EVENTS_LOST],
		Incidents:           out[recorderStatIndexSTAT_INCIDENTS_KEPT] + out[recorderStatIndexSTAT_INCIDENTS_SUPPRESSED],
		IncidentsSuppressed: out[recorderStatIndexSTAT_INCIDENTS_SUPPRESSED],
		ContainersLate:      out[recorderStatIndexSTAT_CONTAINERS_LATE],
	}, nil
}

// Record copies the single record seq of the ring in slot, if the ring
// still holds it whole.
func (r *Recorder) Record(slot uint32, seq uint64) (Record, bool) {
	if slot >= uint32(r.cfg.MaxRings) || seq == 0 {
		return Record{}, false
	}
	r.pool.mu.RLock()
	defer r.pool.mu.RUnlock()
	m, g := r.ringFor(slot)
	if m == nil {
		return Record{}, false
	}
	return readRecordAt(m, int64(seq&uint64(g.Records-1))*RecordSize, seq, make([]byte, RecordSize))
}
