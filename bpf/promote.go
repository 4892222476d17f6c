package bpf

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// promoteWindow is how recently a small ring must have written its whole
// size to be promoted: it then holds less than this much history.
const promoteWindow = time.Minute

// Promote moves busy small rings to the large class while the budget
// allows: a small ring whose application wrote its whole size within
// promoteWindow holds less history than that (the runtime's setup does
// not count). Candidates go in slot order, so the choice is deterministic;
// promotions stop while less than a quarter of the budget is free or
// spare, which is kept for new containers. It returns how many it promoted.
func (r *Recorder) Promote(now time.Time) (int, error) {
	if r.cfg.SmallRingSize >= r.cfg.RingSize {
		return 0, nil
	}
	type candidate struct {
		slot  uint32
		owner uint64
	}
	r.pool.mu.Lock()
	r.countReady()
	var due []candidate
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		owner := r.ringOwner(uint32(slot))
		if s.small == nil || s.smallDraining || s.large != nil || s.ready || s.promoting || owner == 0 {
			continue
		}
		meta := r.ringMeta(uint32(slot))
		if meta.Setup {
			continue // the runtime's setup is not the container's activity
		}
		head := meta.Written - min(meta.Written, meta.AppSeq)
		if s.windowStart.IsZero() {
			s.windowStart, s.windowHead = now, 0
		}
		if head-s.windowHead >= uint64(r.cfg.SmallRingSize) {
			due = append(due, candidate{uint32(slot), owner})
			continue
		}
		if now.Sub(s.windowStart) >= promoteWindow {
			s.windowStart, s.windowHead = now, head
		}
	}
	// Spare rings are the room kept for new containers: the quarter of
	// the budget counts them in.
	grow := r.classBytes(classLarge)
	limit := r.cfg.MemoryBudget - r.cfg.MemoryBudget/4
	total := r.allocated()
	var spare int64
	for i := range r.pool.slots {
		if s := &r.pool.slots[i]; s.small != nil && (s.ready || s.idle()) {
			spare += s.small.bytes
		}
	}
	n := 0
	for _, c := range due {
		if total-spare+grow > limit || total+grow > r.cfg.MemoryBudget {
			r.pool.refused += uint64(len(due) - n)
			break
		}
		r.pool.slots[c.slot].promoting = true
		total += grow
		due[n] = c
		n++
	}
	due = due[:n]
	r.pool.mu.Unlock()

	promoted := 0
	for i, c := range due {
		if err := r.promote(c.slot, c.owner); err != nil {
			r.pool.mu.Lock()
			for _, rest := range due[i:] {
				r.pool.slots[rest.slot].promoting = false
			}
			r.pool.mu.Unlock()
			return promoted, err
		}
		promoted++
	}
	return promoted, nil
}

// promote moves the ring in slot, owner's, to a large map. The map is made
// and installed in large_rings first, without the pool held (that waits for
// an RCU grace period); then, held, the small map's records and tape are
// copied into it, the ring's writers are switched to it, and what they
// finished in the small map meanwhile is copied again. The small map is
// left for Drain.
func (r *Recorder) promote(slot uint32, owner uint64) error {
	large, err := r.newRingMap(classLarge)
	if err == nil {
		if err = r.maps.LargeRings.Put(slot, large.m); err != nil {
			large.close()
			err = fmt.Errorf("installing ring %d's large map: %w", slot, err)
		}
	}
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	s := &r.pool.slots[slot]
	s.promoting = false
	if err != nil {
		return err
	}
	s.large = large
	if r.ringOwner(slot) != owner || s.small == nil || s.smallDraining {
		s.largeDraining = true // released meanwhile
		return nil
	}
	copied := r.copyRing(s.small, large, slot, false)
	var one [4]byte
	binary.NativeEndian.PutUint32(one[:], 1)
	if _, err := r.rings.WriteAt(one[:], int64(slot)*int64(ringMetaSize)+int64(offMetaLarge)); err != nil {
		return fmt.Errorf("switching ring %d to its large map: %w", slot, err)
	}
	r.copyStragglers(s.small, large, copied)
	r.copyTape(s.small, large, slot, true)
	r.pool.promotions++
	s.retire(classSmall)
	return nil
}

// copyRing copies the records and the incident tape of a small ring into
// a large map and returns the newest record it copied.
func (r *Recorder) copyRing(from, to *ringMap, slot uint32, onlyNewer bool) uint64 {
	small, big := r.cfg.geometry(classSmall), r.cfg.geometry(classLarge)
	meta := r.ringMeta(slot)
	buf := make([]byte, RecordSize)
	var newest uint64
	first := uint64(1)
	if meta.Written > uint64(small.Records) {
		first = meta.Written - uint64(small.Records) + 1
	}
	for seq := first; seq <= meta.Written; seq++ {
		if copyRecord(from, to, seq&uint64(small.Records-1), seq&uint64(big.Records-1), buf, seq, onlyNewer) {
			newest = seq
		}
	}
	r.copyTape(from, to, slot, onlyNewer)
	return newest
}

// copyTape copies a small ring's incident tape into a large map: the first
// entries to their places, the latest ones to where the kernel puts them
// by how many it handed out. onlyNewer copies only records the large map
// does not have (after the switch, when the kernel writes there too).
func (r *Recorder) copyTape(from, to *ringMap, slot uint32, onlyNewer bool) {
	in := r.cfg.Incidents
	if in.Off() {
		return
	}
	small, big := r.cfg.geometry(classSmall), r.cfg.geometry(classLarge)
	buf := make([]byte, RecordSize)
	per := int64(in.Context + 1)
	block := func(g ringGeometry, e int64) int64 { return int64(g.Records) + e*per }
	copyEntry := func(fromEntry, toEntry int64) {
		for j := int64(0); j < per; j++ {
			copyRecord(from, to, uint64(block(small, fromEntry)+j), uint64(block(big, toEntry)+j), buf, 0, onlyNewer)
		}
	}
	for e := int64(0); e < int64(in.First); e++ {
		copyEntry(e, e)
	}
	lh := r.latestHead(slot)
	for h := lh - min(lh, uint64(small.Latest)); h < lh; h++ {
		copyEntry(int64(in.First)+int64(h%uint64(small.Latest)), int64(in.First)+int64(h%uint64(big.Latest)))
	}
}

// copyStragglers copies the ring records that writers finished in the
// small map after copyRing, before they saw the switch.
func (r *Recorder) copyStragglers(from, to *ringMap, after uint64) {
	small, big := r.cfg.geometry(classSmall), r.cfg.geometry(classLarge)
	buf := make([]byte, RecordSize)
	for i := 0; i < small.Records; i++ {
		seq := seqAt(from, uint64(i)) >> 1
		if seq <= after {
			continue
		}
		copyRecord(from, to, uint64(i), seq&uint64(big.Records-1), buf, seq, true)
	}
}

// seqAt is the seqlock word of record index i of m.
func seqAt(m *ringMap, i uint64) uint64 {
	var s [8]byte
	_, _ = m.ReadAt(s[:], int64(i)*RecordSize+offSeq)
	return binary.NativeEndian.Uint64(s[:])
}

// copyRecord copies record index src of from to index dst of to if it is
// whole (its seqlock word the same before and after), when want is not 0
// only if it is record want, and with onlyNewer only if to holds an older
// record there (or none). The destination's seqlock word is written last.
func copyRecord(from, to *ringMap, src, dst uint64, buf []byte, want uint64, onlyNewer bool) bool {
	before := seqAt(from, src)
	if before == 0 || (want != 0 && before>>1 != want) {
		return false
	}
	if onlyNewer && seqAt(to, dst)>>1 >= before>>1 {
		return false
	}
	_, _ = from.ReadAt(buf, int64(src)*RecordSize)
	if seqAt(from, src) != before {
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
