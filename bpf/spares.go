package bpf

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
)

// The kernel hands a new container a ready slot at its first syscall,
// from the free_slots queue. User space keeps slots ready: SpareRings of
// them, more while cgroups are being made in a burst. Every change of an
// array of maps from user space waits for an RCU grace period (about
// 15 ms), so rings are reused where they can be: a released ring's small
// map stays installed, wiped, and is offered again or, idle for
// defaultIdleGrace, freed (Drain). New maps are installed in one batch, without
// the pool held.

const (
	// burstWindow is how many seconds of cgroup creations raise the
	// spares (NoteCgroupCreated).
	burstWindow = 10
	// maxBurstSpares bounds the spares a burst adds, in SpareRings.
	maxBurstSpares = 4
	// defaultIdleGrace is how long the small map of a released ring waits
	// to be reused before Drain frees it.
	defaultIdleGrace = 10 * time.Second
)

// NoteCgroupCreated tells the pool a cgroup was made: a container may
// come. Each one made in the last burstWindow seconds adds a spare.
func (r *Recorder) NoteCgroupCreated(now time.Time) {
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	sec := now.Unix()
	b := &r.pool.created[sec%burstWindow]
	if b.sec != sec {
		b.sec, b.n = sec, 0
	}
	b.n++
}

// spareTarget is how many rings are kept ready: SpareRings, plus the
// cgroups made in the last burstWindow seconds, up to maxBurstSpares ×
// SpareRings and the slots. The caller holds pool.mu.
func (r *Recorder) spareTarget(now time.Time) int {
	recent := 0
	for _, b := range r.pool.created {
		if now.Unix()-b.sec < burstWindow {
			recent += b.n
		}
	}
	return min(r.cfg.spares()+min(recent, maxBurstSpares*r.cfg.spares()), r.cfg.MaxRings)
}

// Replenish keeps rings ready for new containers, as far as the memory
// budget allows: idle rings first, then new ones. The exporter calls it
// when a cgroup is made and every tick. Ready rings beyond the target
// (after a burst) are taken back and left idle.
func (r *Recorder) Replenish() error {
	now := time.Now()
	r.pool.mu.Lock()
	target := r.spareTarget(now)
	ready := r.countReady()
	if ready > target {
		err := r.takeBack(ready-target, now)
		r.pool.mu.Unlock()
		return err
	}
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		if ready >= target {
			break
		}
		if s.idle() && !s.promoting {
			if err := r.offer(uint32(slot), s); err != nil {
				r.pool.mu.Unlock()
				return err
			}
			ready++
		}
	}
	// New maps for the rest, in empty slots, within the budget.
	small := r.classBytes(classSmall)
	total := r.allocated()
	var slots []uint32
	for slot := 0; slot < len(r.pool.slots) && ready+len(slots) < target; slot++ {
		s := &r.pool.slots[slot]
		if !s.empty() {
			continue
		}
		if total+small > r.cfg.MemoryBudget {
			break // a container that finds none is counted as untracked by the kernel
		}
		s.installing = true
		slots = append(slots, uint32(slot))
		total += small
	}
	r.pool.mu.Unlock()
	if len(slots) == 0 {
		return nil
	}
	made, err := r.install(slots)
	r.pool.mu.Lock()
	defer r.pool.mu.Unlock()
	for i, slot := range slots {
		s := &r.pool.slots[slot]
		s.installing = false
		if err != nil {
			continue
		}
		s.small = made[i]
		if err := r.offer(slot, s); err != nil {
			return err
		}
	}
	return err
}

// install makes a small map for each of slots and puts them into
// small_rings in one batch.
func (r *Recorder) install(slots []uint32) ([]*ringMap, error) {
	made := make([]*ringMap, 0, len(slots))
	fds := make([]uint32, 0, len(slots))
	for range slots {
		rm, err := r.newRingMap(classSmall)
		if err != nil {
			closeAll(made)
			return nil, err
		}
		made, fds = append(made, rm), append(fds, uint32(rm.m.FD()))
	}
	if _, err := r.maps.SmallRings.BatchUpdate(slots, fds, nil); err != nil {
		// Kernels without batch updates of arrays of maps: one by one.
		for i, slot := range slots {
			if err := r.maps.SmallRings.Put(slot, made[i].m); err != nil {
				closeAll(made)
				return nil, fmt.Errorf("installing ring %d: %w", slot, err)
			}
		}
	}
	return made, nil
}

func closeAll(maps []*ringMap) {
	for _, rm := range maps {
		rm.close()
	}
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

// takeBack takes up to n ready slots off the kernel's queue and leaves
// them idle. A slot the kernel hands out meanwhile is simply not among
// them: both sides pop. The caller holds pool.mu.
func (r *Recorder) takeBack(n int, now time.Time) error {
	for ; n > 0; n-- {
		var slot uint32
		if err := r.maps.FreeSlots.LookupAndDelete(nil, &slot); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				return nil
			}
			return fmt.Errorf("taking back a spare ring: %w", err)
		}
		if int(slot) < len(r.pool.slots) {
			s := &r.pool.slots[slot]
			s.ready, s.idleSince = false, now
		}
	}
	return nil
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
	s.ready, s.idleSince = true, time.Time{}
	s.windowStart, s.windowHead = time.Time{}, 0
	return nil
}

// Drain takes the maps no ring uses any more out of their arrays and frees
// them: the large maps of released rings, the small maps of promoted
// ones, and small maps idle for the pool's idleGrace. Each removal waits for an RCU
// grace period, so it runs apart from the rest, holding the pool only to
// note what it frees, and stops early when ctx ends.
func (r *Recorder) Drain(ctx context.Context) error {
	type draining struct {
		slot  uint32
		class ringClass
		rm    *ringMap
	}
	now := time.Now()
	r.pool.mu.Lock()
	var todo []draining
	for slot := range r.pool.slots {
		s := &r.pool.slots[slot]
		if s.idle() && now.Sub(s.idleSince) >= r.pool.idleGrace && !s.promoting {
			s.smallDraining = true
		}
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
		if err := r.outer(d.class).Delete(d.slot); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
			return fmt.Errorf("removing ring %d's %s map: %w", d.slot, d.class, err)
		}
		r.pool.mu.Lock()
		s := &r.pool.slots[d.slot]
		if d.class == classLarge {
			s.large, s.largeDraining = nil, false
		} else {
			s.small, s.smallDraining, s.idleSince = nil, false, time.Time{}
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
		s.smallDraining, s.idleSince = true, time.Time{}
	}
}
