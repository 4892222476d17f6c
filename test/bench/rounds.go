package main

import (
	"context"
	"fmt"
)

// measure runs every round. A round measures each micro workload under
// every mode back to back (a fresh session per run, modes in an order
// rotated by the round number, so that the modes compared are measured
// seconds apart), then the realistic workload and the exporter's own CPU
// under one session per mode.
func (b *bench) measure(ctx context.Context) error {
	for r := 0; r < b.cfg.rounds; r++ {
		for _, w := range microWorkloads {
			b.logf("round %d/%d, %s", r+1, b.cfg.rounds, w.key)
			if err := b.measureMicro(ctx, r, w); err != nil {
				return err
			}
		}
		b.logf("round %d/%d, realistic workload and exporter CPU", r+1, b.cfg.rounds)
		if err := b.eachMode(ctx, r, b.measureRest(ctx)); err != nil {
			return err
		}
	}
	return nil
}

// eachMode runs f under a fresh session of every mode but the micro-only
// ones, in the round's rotated order.
func (b *bench) eachMode(ctx context.Context, round int, f func(s *session, where string) error) error {
	for i := range b.modes {
		m := b.modes[(i+round)%len(b.modes)]
		if m.microOnly() {
			continue
		}
		if err := b.underMode(ctx, m, fmt.Sprintf("round %d, mode %s", round+1, m.key), f); err != nil {
			return fmt.Errorf("round %d: %w", round+1, err)
		}
	}
	return nil
}

// underMode sets mode m up, runs f and tears the mode down again.
func (b *bench) underMode(ctx context.Context, m modeInfo, where string, f func(s *session, where string) error) error {
	return b.underModeErrnos(ctx, m, "", where, f)
}

// underModeErrnos is underMode with the exporter's incident errnos set to
// errnos (unless empty) where incidents are on.
func (b *bench) underModeErrnos(ctx context.Context, m modeInfo, errnos, where string, f func(s *session, where string) error) (err error) {
	s, err := b.startSession(ctx, m, errnos)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := s.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	return f(s, where)
}

// runTries is how often a run is repeated while other processes' syscall
// tracers are attached, before it is kept anyway (and flagged).
const runTries = 3

// measureRest measures, under one mode, the realistic workload and, for
// the exporter, its CPU against the syscall rate and its kernel memory.
func (b *bench) measureRest(ctx context.Context) func(s *session, where string) error {
	return func(s *session, where string) (err error) {
		if b.real != nil {
			if err := b.measureRealistic(ctx, s, where); err != nil {
				return err
			}
		}
		if s.mode.id != modeExporter {
			return nil
		}
		if err := b.measureExporterCPU(ctx, s, where); err != nil {
			return fmt.Errorf("exporter CPU: %w", err)
		}
		if b.res.mem == nil {
			if b.res.mem, err = readMemory(s.exp); err != nil {
				return err
			}
		}
		return nil
	}
}

// measureRealistic runs the realistic workload sizes.redisReps times and
// keeps the best run (clean runs first).
func (b *bench) measureRealistic(ctx context.Context, s *session, where string) error {
	var best realSample
	bestClean, have := false, false
	for rep := 0; rep < max(b.cfg.sizes.redisReps, 1); rep++ {
		var smp realSample
		clean, err := b.cleanRun(ctx, s, where+", "+b.real.name(), runTries, func() (err error) {
			smp, err = b.real.run(ctx, b, s)
			return err
		})
		if err != nil {
			return fmt.Errorf("mode %s, %s: %w", s.mode.key, b.real.name(), err)
		}
		_, higherBetter := b.real.unit()
		better := smp.value < best.value
		if higherBetter {
			better = smp.value > best.value
		}
		if !have || (clean && !bestClean) || (clean == bestClean && better) {
			best, bestClean, have = smp, clean, true
		}
	}
	b.res.real[s.mode.key] = append(b.res.real[s.mode.key], best)
	b.logf("  %-18s %s: %s, best of %d", s.mode.key, b.real.name(), b.real.format(best), max(b.cfg.sizes.redisReps, 1))
	return nil
}

// measureMicro runs micro workload w under every mode (in the round's
// rotated order) in both placements, sizes.reps times each, and keeps the
// best run of each: on a shared machine interference only ever adds CPU
// time. Every run of a mode has a session of its own: a loaded program's
// cost varies with where its image lands (by tens of ns per syscall on a VM,
// for identical programs), and only fresh sessions sample that. Runs during
// which other processes' syscall tracers were attached are repeated, and
// count only when no clean run was had.
func (b *bench) measureMicro(ctx context.Context, round int, w microWorkload) error {
	for i := range b.modes {
		m := b.modes[(i+round)%len(b.modes)]
		if !w.measures(m) {
			continue
		}
		where := fmt.Sprintf("round %d, mode %s", round+1, m.key)
		best := map[string]microSample{}
		for rep := 0; rep < b.cfg.sizes.reps; rep++ {
			err := b.underModeErrnos(ctx, m, w.incidentErrnos, where, func(s *session, where string) error {
				return b.runMicroPlacements(ctx, s, w, where, best)
			})
			if err != nil {
				return fmt.Errorf("round %d: %w", round+1, err)
			}
		}
		for _, pl := range w.placements() {
			smp := best[pl]
			b.res.addMicro(w.key, pl, m.key, smp)
			b.logf("  %-18s %-8s %-7s %8.1f ns/syscall CPU (%.1f wall), best of %d sessions", m.key, w.key, pl, smp.cpuNs, smp.wallNs, b.cfg.sizes.reps)
		}
	}
	return nil
}

// runMicroPlacements runs w once in each placement under session s and
// keeps the better run in best.
func (b *bench) runMicroPlacements(ctx context.Context, s *session, w microWorkload, where string, best map[string]microSample) error {
	for _, pl := range w.placements() {
		var smp microSample
		clean, err := b.cleanRun(ctx, s, fmt.Sprintf("%s, %s %s", where, w.key, pl), runTries, func() (err error) {
			smp, err = b.runMicro(ctx, s, w, pl)
			return err
		})
		if err != nil {
			return fmt.Errorf("mode %s, %s %s: %w", s.mode.key, w.key, pl, err)
		}
		smp.foreign = !clean
		if cur, ok := best[pl]; !ok || smp.better(cur) {
			best[pl] = smp
		}
	}
	return nil
}
