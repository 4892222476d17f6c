package main

import (
	"context"
	"fmt"
)

// measure runs every round: each mode once per round, in an order rotated
// by the round number, every workload inside each mode.
func (b *bench) measure(ctx context.Context) error {
	for r := 0; r < b.cfg.rounds; r++ {
		for i := range b.modes {
			m := b.modes[(i+r)%len(b.modes)]
			b.logf("round %d/%d, mode %s", r+1, b.cfg.rounds, m.key)
			if err := b.measureMode(ctx, r, m); err != nil {
				return fmt.Errorf("round %d: %w", r+1, err)
			}
		}
	}
	return nil
}

// runTries is how often a run is repeated while other processes' syscall
// tracers are attached, before it is kept anyway (and flagged).
const runTries = 3

// measureMode sets one mode up, runs every workload under it and tears it
// down again.
func (b *bench) measureMode(ctx context.Context, round int, m modeInfo) (err error) {
	s, err := b.startSession(ctx, m)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	where := fmt.Sprintf("round %d, mode %s", round+1, m.key)
	if err := b.measureMicro(ctx, s, where); err != nil {
		return err
	}
	if b.real != nil {
		var smp realSample
		_, err := b.cleanRun(ctx, s, where+", "+b.real.name(), runTries, func() (err error) {
			smp, err = b.real.run(ctx, b, s)
			return err
		})
		if err != nil {
			return fmt.Errorf("mode %s, %s: %w", m.key, b.real.name(), err)
		}
		b.res.real[m.key] = append(b.res.real[m.key], smp)
		b.logf("  %-16s %s", b.real.name(), b.real.format(smp))
	}
	if m.id == modeExporter {
		if err := b.measureExporterCPU(ctx, s, where); err != nil {
			return fmt.Errorf("exporter CPU: %w", err)
		}
		if b.res.mem == nil {
			if b.res.mem, err = readMemory(s.exp); err != nil {
				return err
			}
		}
	}
	return nil
}

// measureMicro runs every micro workload in both placements, each
// sizes.reps times (interleaved), and keeps the best run of each: on a
// shared machine interference only ever adds CPU time. Runs during which
// other processes' syscall tracers were attached are repeated, and count
// only when no clean run was had.
func (b *bench) measureMicro(ctx context.Context, s *session, where string) error {
	best := map[string]microSample{}
	for rep := 0; rep < b.cfg.sizes.reps; rep++ {
		for _, w := range microWorkloads {
			for _, pl := range placements {
				var smp microSample
				clean, err := b.cleanRun(ctx, s, fmt.Sprintf("%s, %s %s", where, w.key, pl), runTries, func() (err error) {
					smp, err = b.runMicro(ctx, s, w, pl)
					return err
				})
				if err != nil {
					return fmt.Errorf("mode %s, %s %s: %w", s.mode.key, w.key, pl, err)
				}
				smp.foreign = !clean
				k := microKey(w.key, pl)
				if cur, ok := best[k]; !ok || smp.better(cur) {
					best[k] = smp
				}
			}
		}
	}
	for _, w := range microWorkloads {
		for _, pl := range placements {
			smp := best[microKey(w.key, pl)]
			b.res.addMicro(w.key, pl, s.mode.key, smp)
			b.logf("  %-8s %-7s %8.1f ns/syscall CPU (%.1f wall), best of %d", w.key, pl, smp.cpuNs, smp.wallNs, b.cfg.sizes.reps)
		}
	}
	return nil
}
