// Package reclaim frees the kernel state of removed cgroups: their ring at
// once, after copying it into the frozen store, and their counters once the
// grace period has let Prometheus scrape them.
package reclaim

import (
	"context"
	"fmt"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
)

// Releaser is the part of the recorder the reclaimer needs.
type Releaser interface {
	Rings() ([]bpf.Ring, []uint64, error)
	Read(cgroupID uint64, slot uint32) (bpf.Snapshot, error)
	CounterCgroups() ([]uint64, error)
	Release(cgroupID uint64) error
	ForgetCounters(gone map[uint64]bool) error
}

// Reclaimer frees the kernel state of removed cgroups: their ring at once,
// after copying it into the Store, and their counters once the grace
// period has let Prometheus scrape them.
type Reclaimer struct {
	Source   Releaser
	Resolver *containers.Resolver
	Store    *frozen.Store // frozen rings of removed cgroups
	Logger   *slog.Logger
	// Retire is called with the cgroups whose counters are to be deleted,
	// while their labels are still known, and with forget, which deletes
	// them: it keeps their counts and calls forget. Nil: forget is called.
	Retire func(ids []uint64, forget func() error) error

	released    atomic.Uint64
	overwritten atomic.Uint64
	written     atomic.Uint64
	trigger     chan struct{}
}

// New returns a reclaimer; Run starts it.
func New(src Releaser, res *containers.Resolver, store *frozen.Store, logger *slog.Logger) *Reclaimer {
	return &Reclaimer{Source: src, Resolver: res, Store: store, Logger: logger, trigger: make(chan struct{}, 1)}
}

// Trigger asks for a pass now, e.g. because a cgroup was just removed.
func (rc *Reclaimer) Trigger() {
	select {
	case rc.trigger <- struct{}{}:
	default:
	}
}

// ReleasedRecords counts the records written into, and overwritten in,
// rings freed so far, so that totals over live and freed rings never go
// backwards (collector.ReleasedRecords).
func (rc *Reclaimer) ReleasedRecords() (written, overwritten uint64) {
	return rc.written.Load(), rc.overwritten.Load()
}

var releasedDesc = prometheus.NewDesc("flightrec_recorder_rings_released_total",
	"Rings freed after their cgroup was removed.", nil, nil)

// Describe and Collect make the reclaimer a prometheus.Collector of the
// rings it freed.
func (rc *Reclaimer) Describe(ch chan<- *prometheus.Desc) { ch <- releasedDesc }

// Collect reports the rings freed.
func (rc *Reclaimer) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(releasedDesc, prometheus.CounterValue, float64(rc.released.Load()))
}

// Reclaim does one pass and returns how many rings it freed.
func (rc *Reclaimer) Reclaim(now time.Time) (int, error) {
	rings, untracked, err := rc.Source.Rings()
	if err != nil {
		return 0, err
	}
	seen, err := rc.Source.CounterCgroups()
	if err != nil {
		return 0, err
	}
	for _, r := range rings {
		seen = append(seen, r.CgroupID)
	}
	seen = append(seen, untracked...)
	expired, err := rc.Resolver.Update(now, seen)
	if err != nil {
		return 0, err
	}
	freed := 0
	for _, r := range rings {
		if rc.Resolver.Live(r.CgroupID) {
			continue
		}
		snap, err := rc.Source.Read(r.CgroupID, r.Slot)
		if err != nil {
			return freed, fmt.Errorf("freezing ring of cgroup %d: %w", r.CgroupID, err)
		}
		if len(snap.Records) > 0 {
			path, _, known := rc.Resolver.Path(r.CgroupID)
			// A container not named yet is frozen without a name; the
			// store names it when the runtime or the API server does.
			labels, _ := rc.Resolver.Labels(r.CgroupID)
			if !known || path == "" {
				path = containers.RemovedCgroup(r.CgroupID)
				labels = containers.Labels{Container: path}
			}
			var restarts *int
			if n, ok := rc.Resolver.Restarts(r.CgroupID); ok {
				restarts = &n
			}
			rc.Store.Freeze(snap, path, labels, restarts, now)
			if err := rc.Store.SaveError(); err != nil {
				rc.Logger.Warn("frozen ring kept in memory only", "err", err)
			}
		}
		if err := rc.Source.Release(r.CgroupID); err != nil {
			return freed, fmt.Errorf("releasing ring of cgroup %d: %w", r.CgroupID, err)
		}
		freed++
		rc.released.Add(1)
		rc.overwritten.Add(r.Overwritten())
		rc.written.Add(r.Written)
	}
	for _, id := range untracked {
		if !rc.Resolver.Live(id) {
			if err := rc.Source.Release(id); err != nil {
				return freed, fmt.Errorf("forgetting cgroup %d: %w", id, err)
			}
		}
	}
	rc.Store.Expire(now)
	if len(expired) > 0 {
		gone := make(map[uint64]bool, len(expired))
		for _, id := range expired {
			gone[id] = true
		}
		forget := func() error { return rc.Source.ForgetCounters(gone) }
		if rc.Retire != nil {
			if err := rc.Retire(expired, forget); err != nil {
				return freed, err
			}
		} else if err := forget(); err != nil {
			return freed, err
		}
		rc.Resolver.Forget(expired)
	}
	return freed, nil
}

// Run calls Reclaim every interval until ctx ends.
func (rc *Reclaimer) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-rc.trigger:
		}
		n, err := rc.Reclaim(time.Now())
		switch {
		case err != nil && !failing:
			rc.Logger.Error("reclaiming state of removed cgroups", "err", err)
			failing = true
		case err == nil:
			failing = false
			if n > 0 {
				rc.Logger.Debug("froze and freed rings of removed cgroups", "rings", n)
			}
		}
	}
}
