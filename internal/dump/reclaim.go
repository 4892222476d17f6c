package dump

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
)

// Releaser is the part of the recorder the reclaimer needs.
type Releaser interface {
	Rings() ([]bpf.Ring, []uint64, error)
	Release(cgroupID uint64) error
}

// Reclaimer frees the rings of removed cgroups.
type Reclaimer struct {
	Source  Releaser
	Cgroups *cgroups.Hierarchy
	Parent  string
	Logger  *slog.Logger

	released    atomic.Uint64
	overwritten atomic.Uint64
}

// Released counts rings freed so far.
func (rc *Reclaimer) Released() uint64 { return rc.released.Load() }

// ReleasedOverwritten counts the overwritten records of freed rings, so that
// a total over live and freed rings never goes backwards.
func (rc *Reclaimer) ReleasedOverwritten() uint64 { return rc.overwritten.Load() }

// Reclaim frees the rings (and forgets the refused containers) whose cgroup
// no longer exists below the parent. It returns how many rings it freed.
func (rc *Reclaimer) Reclaim(ringSize int) (int, error) {
	src, h, parent := rc.Source, rc.Cgroups, rc.Parent
	rings, untracked, err := src.Rings()
	if err != nil {
		return 0, err
	}
	live, err := h.Walk(parent)
	if err != nil {
		return 0, err
	}
	freed := 0
	for _, r := range rings {
		if _, ok := live[r.CgroupID]; ok {
			continue
		}
		if err := src.Release(r.CgroupID); err != nil {
			return freed, fmt.Errorf("releasing ring of cgroup %d: %w", r.CgroupID, err)
		}
		freed++
		rc.released.Add(1)
		rc.overwritten.Add(r.Overwritten(ringSize))
	}
	for _, id := range untracked {
		if _, ok := live[id]; !ok {
			if err := src.Release(id); err != nil {
				return freed, fmt.Errorf("forgetting cgroup %d: %w", id, err)
			}
		}
	}
	return freed, nil
}

// Run calls Reclaim every interval until ctx ends.
func (rc *Reclaimer) Run(ctx context.Context, ringSize int, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		n, err := rc.Reclaim(ringSize)
		switch {
		case err != nil && !failing:
			rc.Logger.Error("reclaiming rings of removed cgroups", "err", err)
			failing = true
		case err == nil:
			failing = false
			if n > 0 {
				rc.Logger.Debug("reclaimed rings of removed cgroups", "rings", n)
			}
		}
	}
}
