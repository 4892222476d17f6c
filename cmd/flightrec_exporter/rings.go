package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
)

// ringTick is how often the spare rings are topped up, busy rings
// promoted and unused maps freed, besides topping up whenever a cgroup is
// made.
const ringTick = time.Second

// manageRings keeps spare rings ready for new containers and promotes busy
// ones, until ctx ends. wanted wakes it when a cgroup is made.
func manageRings(ctx context.Context, rec *bpf.Recorder, wanted <-chan struct{}, logger *slog.Logger) {
	tick := time.NewTicker(ringTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wanted:
			if err := rec.Replenish(); err != nil {
				logger.Error("making spare rings", "err", err)
			}
		case now := <-tick.C:
			if err := rec.Replenish(); err != nil {
				logger.Error("making spare rings", "err", err)
			}
			if n, err := rec.Promote(now); err != nil {
				logger.Error("promoting busy rings", "err", err)
			} else if n > 0 {
				logger.Debug("promoted busy rings to the large class", "rings", n)
			}
		}
	}
}

// drainRings frees the maps of released rings beyond the spares, and the
// small maps of promoted ones, every tick until ctx ends. Apart from
// manageRings: each map freed waits for an RCU grace period.
func drainRings(ctx context.Context, rec *bpf.Recorder, logger *slog.Logger) {
	tick := time.NewTicker(ringTick)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := rec.Drain(ctx); err != nil {
				logger.Error("freeing rings", "err", err)
			}
		}
	}
}
