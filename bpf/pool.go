package bpf

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Ring memory follows the containers present. Each ring is a map of its
// own (ring_maps in recorder.bpf.c), made here when a slot is readied for
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

// promoteWindow is how recently a small ring must have written its whole
// size to be promoted: it then holds less than this much history.
const promoteWindow = time.Minute

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
	// to be taken out of ring_maps and freed (Drain).
	smallDraining, largeDraining bool
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
func (s *slotMaps) empty() bool { return s.small == nil && s.large == nil }

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
// the tape's.
func (c Config) entries(class ringClass) int {
	g := c.geometry(class)
	if c.Incidents.Off() {
		return g.Records
	}
	return g.Records + (c.Incidents.First+g.Latest)*(c.Incidents.Context+1)
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
	spec := r.innerSpec.Copy()
	spec.MaxEntries = uint32(r.cfg.entries(class))
	m, err := ebpf.NewMap(spec)
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

// outerKey is where slot's map of class c is in ring_maps.
func (r *Recorder) outerKey(slot uint32, class ringClass) uint32 {
	if class == classLarge {
		return uint32(r.cfg.MaxRings) + slot
	}
	return slot
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

// resumePool finds the maps an earlier exporter left in ring_maps; false
// when their sizes are not this configuration's.
func (r *Recorder) resumePool() (bool, error) {
	r.pool.slots = make([]slotMaps, r.cfg.MaxRings)
	for slot := uint32(0); slot < uint32(r.cfg.MaxRings); slot++ {
		for _, class := range []ringClass{classSmall, classLarge} {
			var m *ebpf.Map
			err := r.maps.RingMaps.Lookup(r.outerKey(slot, class), &m)
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("finding ring %d: %w", slot, err)
			}
			if int(m.MaxEntries()) != r.cfg.entries(class) || m.ValueSize() != RecordSize {
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

// Replenish keeps SpareRings small rings ready for new containers, as far
// as the memory budget allows. The exporter calls it when a cgroup is
// made and every tick.
func (r *Recorder) Replenish() error {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	return r.replenishLocked()
}

// countReady counts the slots still ready, noting those the kernel has
// handed out since; the caller holds pool.mu.
func (r *Recorder) countReady() int {
	ready := 0
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		if s.ready && r.ringOwner(uint32(slot)) != 0 {
			s.ready = false // taken by a container
			s.windowStart, s.windowHead = time.Time{}, 0
		}
		if s.ready {
			ready++
		}
	}
	return ready
}

// replenishLocked makes the missing spare rings. They are put into
// ring_maps in one batch: every change of an array of maps from user space
// waits for an RCU grace period (milliseconds), once per call.
func (r *Recorder) replenishLocked() error {
	need := r.cfg.spares() - r.countReady()
	small := r.classBytes(classSmall)
	total := r.allocated()
	var (
		slots []uint32
		made  []*ringMap
	)
	for slot := 0; slot < len(r.pool.slots) && len(slots) < need; slot++ {
		if !r.pool.slots[slot].empty() {
			continue
		}
		if total+small > r.cfg.MemoryBudget {
			break // a container that finds none is counted as untracked by the kernel
		}
		rm, err := r.newRingMap(classSmall)
		if err != nil {
			closeAll(made)
			return err
		}
		slots, made = append(slots, uint32(slot)), append(made, rm)
		total += small
	}
	if len(slots) == 0 {
		return nil
	}
	fds := make([]uint32, len(made))
	for i, rm := range made {
		fds[i] = uint32(rm.m.FD())
	}
	if _, err := r.maps.RingMaps.BatchUpdate(slots, fds, nil); err != nil {
		// Kernels without batch updates of arrays of maps: one by one.
		for i, slot := range slots {
			if err := r.maps.RingMaps.Put(slot, made[i].m); err != nil {
				closeAll(made)
				return fmt.Errorf("installing ring %d: %w", slot, err)
			}
		}
	}
	for i, slot := range slots {
		s := &r.pool.slots[slot]
		s.small = made[i]
		if err := r.offer(slot, s); err != nil {
			return err
		}
	}
	return nil
}

func closeAll(maps []*ringMap) {
	for _, rm := range maps {
		rm.close()
	}
}

// offer wipes the metadata of slot, whose small map is installed and
// wiped, and gives the slot to the kernel to hand out.
func (r *Recorder) offer(slot uint32, s *slotMaps) error {
	if _, err := r.rings.WriteAt(make([]byte, ringMetaSize), int64(slot)*int64(ringMetaSize)); err != nil {
		return fmt.Errorf("wiping ring %d metadata: %w", slot, err)
	}
	if err := r.maps.FreeSlots.Update(nil, slot, ebpf.UpdateAny); err != nil {
		return fmt.Errorf("offering ring %d: %w", slot, err)
	}
	s.ready = true
	s.windowStart, s.windowHead = time.Time{}, 0
	return nil
}

// Drain takes the maps no ring uses any more (of released rings beyond
// the spares, and the small maps of promoted rings) out of ring_maps and
// frees them. Each removal waits for an RCU grace period, so it runs apart
// from the rest, holding the pool only to note what it freed, and stops
// early when ctx ends.
func (r *Recorder) Drain(ctx context.Context) error {
	type draining struct {
		slot  uint32
		class ringClass
		rm    *ringMap
	}
	r.pool.mu.Lock()
	var todo []draining
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		if s.smallDraining {
			todo = append(todo, draining{uint32(slot), classSmall, s.small})
		}
		if s.largeDraining {
			todo = append(todo, draining{uint32(slot), classLarge, s.large})
		}
	}
	r.pool.mu.Unlock()
	for _, d := range todo {
		if ctx.Err() != nil {
			return nil
		}
		if err := r.maps.RingMaps.Delete(r.outerKey(d.slot, d.class)); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing ring %d's %s map: %w", d.slot, d.class, err)
		}
		r.pool.mu.Lock()
		s := &r.pool.slots[d.slot]
		if d.class == classLarge {
			s.large, s.largeDraining = nil, false
		} else {
			s.small, s.smallDraining = nil, false
		}
		d.rm.close()
		r.pool.mu.Unlock()
	}
	return nil
}

// retire marks slot's map of class c for Drain.
func (s *slotMaps) retire(class ringClass) {
	if class == classLarge && s.large != nil {
		s.largeDraining = true
	}
	if class == classSmall && s.small != nil {
		s.smallDraining = true
	}
}

// Promote moves busy small rings to the large class while the budget
// allows: a small ring that wrote its whole size within promoteWindow
// holds less history than that. Candidates go in slot order (the order
// in which rings were first handed out), so the choice is deterministic;
// promotions stop while less than a quarter of the budget is free, which
// is kept for new containers. It returns how many it promoted.
func (r *Recorder) Promote(now time.Time) (int, error) {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	if r.cfg.SmallRingSize >= r.cfg.RingSize {
		return 0, nil
	}
	r.countReady()
	var due []uint32
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		if s.small == nil || s.smallDraining || s.large != nil || s.ready || r.ringOwner(uint32(slot)) == 0 {
			continue
		}
		meta := r.ringMeta(uint32(slot))
		if meta.Setup {
			continue // the runtime's setup is not the container's activity
		}
		// What the application wrote: the runtime's setup does not count.
		head := meta.Written - min(meta.Written, meta.AppSeq)
		if s.windowStart.IsZero() {
			s.windowStart, s.windowHead = now, 0
		}
		if head-s.windowHead >= uint64(r.cfg.SmallRingSize) {
			due = append(due, uint32(slot))
			continue
		}
		if now.Sub(s.windowStart) >= promoteWindow {
			s.windowStart, s.windowHead = now, head
		}
	}
	grow := r.classBytes(classLarge)
	limit := r.cfg.MemoryBudget - r.cfg.MemoryBudget/4
	promoted := 0
	for _, slot := range due {
		if r.allocated()+grow > limit {
			r.pool.refused += uint64(len(due) - promoted)
			break
		}
		if err := r.promote(slot); err != nil {
			return promoted, err
		}
		promoted++
	}
	return promoted, nil
}

// promote moves the ring in slot to a large map. The large map is filled
// with what the small one holds and installed before the ring's writers
// are switched to it; what they finished in the small map meanwhile is
// copied again after the switch, and the small map is freed.
func (r *Recorder) promote(slot uint32) error {
	s := &r.pool.slots[slot]
	large, err := r.newRingMap(classLarge)
	if err != nil {
		return err
	}
	copied := r.copyRing(s.small, large, slot)
	if err := r.maps.RingMaps.Put(r.outerKey(slot, classLarge), large.m); err != nil {
		large.close()
		return fmt.Errorf("installing ring %d's large map: %w", slot, err)
	}
	var one [4]byte
	binary.NativeEndian.PutUint32(one[:], 1)
	if _, err := r.rings.WriteAt(one[:], int64(slot)*int64(ringMetaSize)+int64(offMetaLarge)); err != nil {
		return fmt.Errorf("switching ring %d to its large map: %w", slot, err)
	}
	s.large = large
	r.copyStragglers(s.small, large, copied)
	r.pool.promotions++
	s.retire(classSmall)
	return nil
}

// copyRing copies the records and the incident tape of a small ring into
// an unused large map and returns the newest record it copied.
func (r *Recorder) copyRing(from, to *ringMap, slot uint32) uint64 {
	small, big := r.cfg.geometry(classSmall), r.cfg.geometry(classLarge)
	meta := r.ringMeta(slot)
	buf := make([]byte, RecordSize)
	var newest uint64
	first := uint64(1)
	if meta.Written > uint64(small.Records) {
		first = meta.Written - uint64(small.Records) + 1
	}
	for seq := first; seq <= meta.Written; seq++ {
		if r.copyRecord(from, to, seq&uint64(small.Records-1), seq&uint64(big.Records-1), buf, seq) {
			newest = seq
		}
	}
	in := r.cfg.Incidents
	if in.Off() {
		return newest
	}
	per := int64(in.Context + 1)
	block := func(g ringGeometry, e int64) int64 { return int64(g.Records) + e*per }
	copyEntry := func(fromEntry, toEntry int64) {
		for j := int64(0); j < per; j++ {
			r.copyRecord(from, to, uint64(block(small, fromEntry)+j), uint64(block(big, toEntry)+j), buf, 0)
		}
	}
	// The first entries keep their places; the latest ones are placed by
	// how many the ring had handed out, as the kernel goes on doing.
	for e := int64(0); e < int64(in.First); e++ {
		copyEntry(e, e)
	}
	lh := r.latestHead(slot)
	for h := lh - min(lh, uint64(small.Latest)); h < lh; h++ {
		copyEntry(int64(in.First)+int64(h%uint64(small.Latest)), int64(in.First)+int64(h%uint64(big.Latest)))
	}
	return newest
}

// copyStragglers copies the records that writers finished in the small
// map after copyRing, before they saw the switch.
func (r *Recorder) copyStragglers(from, to *ringMap, after uint64) {
	small, big := r.cfg.geometry(classSmall), r.cfg.geometry(classLarge)
	buf := make([]byte, RecordSize)
	for i := 0; i < small.Records; i++ {
		var s [8]byte
		_, _ = from.ReadAt(s[:], int64(i)*RecordSize)
		seq := binary.NativeEndian.Uint64(s[:]) >> 1
		if seq <= after {
			continue
		}
		var d [8]byte
		dst := seq & uint64(big.Records-1)
		_, _ = to.ReadAt(d[:], int64(dst)*RecordSize)
		if binary.NativeEndian.Uint64(d[:])>>1 >= seq {
			continue // the large map has it, or newer
		}
		r.copyRecord(from, to, uint64(i), dst, buf, seq)
	}
}

// copyRecord copies record index src of from to index dst of to if it is
// whole (its seqlock word the same before and after) and, when want is
// not 0, record want. The destination's seqlock word is written last.
func (r *Recorder) copyRecord(from, to *ringMap, src, dst uint64, buf []byte, want uint64) bool {
	var s [8]byte
	load := func() uint64 {
		_, _ = from.ReadAt(s[:], int64(src)*RecordSize+offSeq)
		return binary.NativeEndian.Uint64(s[:])
	}
	before := load()
	if before == 0 || (want != 0 && before>>1 != want) {
		return false
	}
	_, _ = from.ReadAt(buf, int64(src)*RecordSize)
	if load() != before {
		return false
	}
	word := slices.Clone(buf[offSeq : offSeq+8])
	clear(buf[offSeq : offSeq+8])
	_, _ = to.WriteAt(buf, int64(dst)*RecordSize)
	_, _ = to.WriteAt(word, int64(dst)*RecordSize+offSeq)
	return true
}

// latestHead is how many entries of the latest part of slot's tape the
// kernel has handed out.
func (r *Recorder) latestHead(slot uint32) uint64 {
	var b [8]byte
	_, _ = r.rings.ReadAt(b[:], int64(slot)*int64(ringMetaSize)+int64(offMetaLatestHead))
	return binary.NativeEndian.Uint64(b[:])
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
	SpareTarget                    int
}

// Memory reports the rings' kernel memory.
func (r *Recorder) Memory() MemoryStats {
	r.pool.mu.RLock()
	defer r.pool.mu.RUnlock()
	st := MemoryStats{Bytes: r.allocated(), Budget: r.cfg.MemoryBudget, Promotions: r.pool.promotions,
		Unpromoted: r.pool.refused, SmallBytes: r.classBytes(classSmall), LargeBytes: r.classBytes(classLarge),
		MetaBytes: r.pool.metaBytes, SpareTarget: r.cfg.spares(),
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
		case s.small != nil && s.ready:
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
