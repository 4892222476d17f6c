package bpf

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Ring memory follows the containers present. Each ring is a map of its
// own (small_rings and large_rings in recorder.bpf.c), made here when a slot is readied for
// a new container and freed with the ring. Every ring starts small; a busy
// one is promoted to a large map while the memory budget allows, with its
// records and incident tape copied over. A few small rings are kept ready
// (spares) so that the kernel can give a new container one at its first
// syscall, without waiting for user space.

// ringClass is the size class of a ring's map.
type ringClass int

const (
	classSmall ringClass = iota
	classLarge
)

func (c ringClass) String() string {
	if c == classLarge {
		return "large"
	}
	return "small"
}

// ringMap is one ring's map, mapped into this process.
type ringMap struct {
	m   *ebpf.Map
	mem []byte
	// bytes is the kernel memory the map takes, as the kernel accounts
	// it (memlock in its fdinfo).
	bytes int64
}

// ReadAt copies from the map's memory.
func (rm *ringMap) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(rm.mem)) {
		return 0, fmt.Errorf("ring map: read of %d bytes at %d beyond its %d", len(p), off, len(rm.mem))
	}
	return copy(p, rm.mem[off:]), nil
}

// WriteAt copies into the map's memory.
func (rm *ringMap) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(rm.mem)) {
		return 0, fmt.Errorf("ring map: write of %d bytes at %d beyond its %d", len(p), off, len(rm.mem))
	}
	return copy(rm.mem[off:], p), nil
}

// close unmaps the memory and closes the map: the kernel frees it once no
// program and no other map holds it.
func (rm *ringMap) close() {
	if rm == nil {
		return
	}
	if rm.mem != nil {
		_ = unix.Munmap(rm.mem)
		rm.mem = nil
	}
	_ = rm.m.Close()
}

// mapRing maps m into this process; it takes m.
func mapRing(m *ebpf.Map) (*ringMap, error) {
	size := int(m.MaxEntries()) * int(m.ValueSize())
	mem, err := unix.Mmap(m.FD(), 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		_ = m.Close()
		return nil, fmt.Errorf("mapping a ring into memory: %w", err)
	}
	return &ringMap{m: m, mem: mem, bytes: memlock(m, int64(size))}, nil
}

// slotMaps are the maps of one slot: the small one while the ring is
// small or ready, the large one once promoted.
type slotMaps struct {
	small, large *ringMap
	// ready: pushed onto free_slots, not yet taken by a container.
	ready bool
	// smallDraining, largeDraining: the map is no longer used and waits
	// to be taken out of its array and freed (Drain).
	smallDraining, largeDraining bool
	// idleSince: the small map of a released ring, wiped, neither offered
	// nor freed yet (Drain frees it after the pool's idleGrace); zero otherwise.
	idleSince time.Time
	// installing, promoting: a map for the slot is being put into
	// its array without the pool held (it waits for an RCU grace period).
	installing, promoting bool
	// window: when the current promotion window of a live small ring
	// began, and the ring's head then.
	windowStart time.Time
	windowHead  uint64
}

// current is the map the ring is in.
func (s *slotMaps) current() *ringMap {
	if s.large != nil && !s.largeDraining {
		return s.large
	}
	if s.smallDraining {
		return nil
	}
	return s.small
}

// class is the ring's size class.
func (s *slotMaps) class() ringClass {
	if s.large != nil && !s.largeDraining {
		return classLarge
	}
	return classSmall
}

// empty says the slot has no map at all: it can be made ready.
func (s *slotMaps) empty() bool { return s.small == nil && s.large == nil && !s.installing }

// idle says the slot's small map waits, wiped, to be offered or freed.
func (s *slotMaps) idle() bool { return !s.idleSince.IsZero() && !s.smallDraining }

// pool owns the ring maps of every slot.
type pool struct {
	// mu is held for reading while a ring's map is read, and for writing
	// while maps are made, switched or freed.
	mu    sync.RWMutex
	slots []slotMaps
	// promotions counts rings moved to the large class; refused counts
	// the promotions the budget did not allow.
	promotions, refused uint64
	// metaBytes is the kernel memory of the rings' metadata; classBytes
	// that of a ring of each class, as the kernel accounted the last one
	// made (0 before the first).
	metaBytes  int64
	classBytes [2]int64
	// idleGrace is how long an idle small map waits before Drain frees it.
	idleGrace time.Duration
	// created counts the cgroups made in each of the last seconds
	// (NoteCgroupCreated): a burst of them raises the spares.
	created [burstWindow]struct {
		sec int64
		n   int
	}
}

// ringGeometry is the layout of a ring's map in one class.
type ringGeometry struct {
	Records int // ring records, a power of two
	Latest  int // tape entries of the latest incidents
}

// geometry is the layout of class c.
func (c Config) geometry(class ringClass) ringGeometry {
	if class == classLarge {
		return ringGeometry{Records: c.RingSize, Latest: c.Incidents.Latest}
	}
	return ringGeometry{Records: c.SmallRingSize, Latest: c.Incidents.latestSmall()}
}

// entries is the number of records of a map of class c: the ring's, then
// the tape's, rounded up to whole chunks (struct record_chunk).
func (c Config) entries(class ringClass) int {
	g := c.geometry(class)
	n := g.Records
	if !c.Incidents.Off() {
		n += (c.Incidents.First + g.Latest) * (c.Incidents.Context + 1)
	}
	return (n + RingChunk - 1) / RingChunk * RingChunk
}

// tapeBytes is the memory of the incident tape of a ring of class c.
func (c Config) tapeBytes(class ringClass) int64 {
	return int64(c.entries(class)-c.geometry(class).Records) * RecordSize
}

// ClassBytes is the kernel memory of one ring of the small or large class,
// its incident tape included.
func (c Config) ClassBytes(large bool) int64 {
	class := classSmall
	if large {
		class = classLarge
	}
	return mmapableArrayBytes(int64(c.entries(class)) * RecordSize)
}

// spares is how many small rings are kept ready: SpareRings, or every
// slot when there are fewer.
func (c Config) spares() int { return min(c.SpareRings, c.MaxRings) }

// MetaBytes is the kernel memory of the rings' bookkeeping, one struct
// ring_meta per slot, allocated at start.
func (c Config) MetaBytes() int64 { return mmapableArrayBytes(int64(c.MaxRings) * int64(ringMetaSize)) }

// mmapableArrayBytes is what the kernel allocates for an mmapable array
// of n bytes of values: whole pages, and a page for the array's header.
func mmapableArrayBytes(n int64) int64 {
	page := int64(unix.Getpagesize())
	return (n+page-1)/page*page + page
}

// memlock is the kernel memory of map m as the kernel accounts it (the
// memlock of its fdinfo; kernels differ slightly in how they round), or
// mmapableArrayBytes(values) when it cannot be read.
func memlock(m *ebpf.Map, values int64) int64 {
	if v, err := fdinfoField(m.FD(), "memlock"); err == nil && v > 0 {
		return int64(v)
	}
	return mmapableArrayBytes(values)
}

// newRingMap makes a map of class c and maps it in.
func (r *Recorder) newRingMap(class ringClass) (*ringMap, error) {
	m, err := ebpf.NewMap(r.innerSpecs[class])
	if err != nil {
		return nil, fmt.Errorf("making a %s ring (%d KiB): %w", class, r.cfg.ClassBytes(class == classLarge)>>10, err)
	}
	rm, err := mapRing(m)
	if err == nil {
		r.pool.classBytes[class] = rm.bytes
	}
	return rm, err
}

// classBytes is the kernel memory of a ring of class c: as the kernel
// accounted the last one made, else as computed.
func (r *Recorder) classBytes(c ringClass) int64 {
	if b := r.pool.classBytes[c]; b > 0 {
		return b
	}
	return r.cfg.ClassBytes(c == classLarge)
}

// outer is the array of the ring maps of class c (small_rings or
// large_rings), where slot's is at key slot.
func (r *Recorder) outer(class ringClass) *ebpf.Map {
	if class == classLarge {
		return r.maps.LargeRings
	}
	return r.maps.SmallRings
}

// allocated is the kernel memory of the rings now, with their metadata;
// the caller holds pool.mu.
func (r *Recorder) allocated() int64 {
	n := r.pool.metaBytes
	for i := range r.pool.slots {
		s := &r.pool.slots[i]
		if s.small != nil {
			n += s.small.bytes
		}
		if s.large != nil {
			n += s.large.bytes
		}
	}
	return n
}

// resumePool finds the maps an earlier exporter left in small_rings and
// large_rings; false
// when their sizes are not this configuration's.
func (r *Recorder) resumePool() (bool, error) {
	r.pool.slots = make([]slotMaps, r.cfg.MaxRings)
	for slot := uint32(0); slot < uint32(r.cfg.MaxRings); slot++ {
		for _, class := range []ringClass{classSmall, classLarge} {
			var m *ebpf.Map
			err := r.outer(class).Lookup(slot, &m)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("finding ring %d: %w", slot, err)
			}
			if int(m.MaxEntries())*RingChunk != r.cfg.entries(class) || m.ValueSize() != RingChunk*RecordSize {
				_ = m.Close()
				return false, nil
			}
			rm, err := mapRing(m)
			if err != nil {
				return false, err
			}
			if class == classLarge {
				r.pool.slots[slot].large = rm
			} else {
				r.pool.slots[slot].small = rm
			}
		}
		s := &r.pool.slots[slot]
		// A small ring nobody owns is on the free queue; the small map of
		// a promoted ring waits to be freed.
		s.ready = s.small != nil && s.large == nil && r.ringOwner(slot) == 0
		s.smallDraining = s.small != nil && s.large != nil
	}
	return true, nil
}

// MemoryStats says how the rings use kernel memory now.
type MemoryStats struct {
	Bytes      int64 // rings, tapes and their metadata
	TapeBytes  int64 // of Bytes, the incident tapes
	Budget     int64 // the most they may take
	Small      int   // small rings of containers
	Large      int   // large (promoted) rings
	Spare      int   // small rings ready for new containers
	Promotions uint64
	Unpromoted uint64 // promotions the budget did not allow
	SmallBytes int64  // one small ring, its tape included
	LargeBytes int64  // one large ring, its tape included
	// SmallTapeBytes and LargeTapeBytes are the tapes' part of them.
	SmallTapeBytes, LargeTapeBytes int64
	MetaBytes                      int64 // the metadata of every slot, allocated at start
}

// Memory reports the rings' kernel memory.
func (r *Recorder) Memory() MemoryStats {
	r.pool.mu.RLock()
	defer r.pool.mu.RUnlock()
	st := MemoryStats{Bytes: r.allocated(), Budget: r.cfg.MemoryBudget, Promotions: r.pool.promotions,
		Unpromoted: r.pool.refused, SmallBytes: r.classBytes(classSmall), LargeBytes: r.classBytes(classLarge),
		MetaBytes:      r.pool.metaBytes,
		SmallTapeBytes: r.cfg.tapeBytes(classSmall), LargeTapeBytes: r.cfg.tapeBytes(classLarge)}
	for i := range r.pool.slots {
		s := &r.pool.slots[i]
		if s.small != nil {
			st.TapeBytes += r.cfg.tapeBytes(classSmall)
		}
		if s.large != nil {
			st.TapeBytes += r.cfg.tapeBytes(classLarge)
		}
		switch {
		case s.large != nil && !s.largeDraining:
			st.Large++
		case s.small != nil && (s.ready || s.idle()):
			st.Spare++
		case s.small != nil && !s.smallDraining:
			st.Small++
		}
	}
	return st
}

// ringFor is the map the ring in slot is in now, and its geometry; nil
// when the slot has none. The caller holds pool.mu for reading while it
// reads the map.
func (r *Recorder) ringFor(slot uint32) (*ringMap, ringGeometry) {
	if int(slot) >= len(r.pool.slots) {
		return nil, ringGeometry{}
	}
	s := &r.pool.slots[slot]
	return s.current(), r.cfg.geometry(s.class())
}

// closePool unmaps every ring; the kernel frees those not pinned.
func (r *Recorder) closePool() {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	for i := range r.pool.slots {
		r.pool.slots[i].small.close()
		r.pool.slots[i].large.close()
		r.pool.slots[i] = slotMaps{}
	}
}
