// Command bench measures what the flight recorder costs each syscall,
// against no tracer, the floor (empty BPF programs on the same hooks) and
// strace. Run it as root from the module:
//
//	go run ./test/bench [-rounds 5] [-quick] [-out FILE] [-skip-realistic] [-skip-strace]
//
// It prints a markdown report; test/bench/README.md explains every number.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// config is what one benchmark run does.
type config struct {
	rounds        int
	quick         bool
	out           string
	skipRealistic bool
	skipStrace    bool
	quietWait     time.Duration // how long to wait before a run for other processes' syscall tracers to go
	exporterBin   string        // a prebuilt exporter; "" builds ./cmd/flightrec_exporter
	realistic     string        // "auto" (redis, else tar), "redis" or "tar"
	sizes         sizes
	progress      io.Writer // progress lines; the report goes elsewhere
}

// sizes are the iteration counts and durations of the workloads.
type sizes struct {
	getppid, openat, fileio int           // iterations per run (fileio: ops of 3 syscalls)
	reps                    int           // runs per micro workload and mode in a round; the best counts
	straceDivisor           int           // strace runs N/straceDivisor iterations: it is ~100× slower
	redisRequests           int           // per redis-benchmark test (SET and GET)
	redisReps               int           // realistic runs per mode and round; the best counts
	redisStraceDivisor      int           // fewer requests under strace
	tarFiles                int           // files in the tar tree (4 KiB each)
	pacedFor                time.Duration // per rate, for the exporter CPU measurement
}

var (
	fullSizes = sizes{
		getppid: 500_000, openat: 200_000, fileio: 60_000, reps: 7, straceDivisor: 100,
		redisRequests: 100_000, redisReps: 2, redisStraceDivisor: 5, tarFiles: 5000, pacedFor: 5 * time.Second,
	}
	quickSizes = sizes{
		getppid: 100_000, openat: 30_000, fileio: 10_000, reps: 1, straceDivisor: 100,
		redisRequests: 5_000, redisReps: 1, redisStraceDivisor: 5, tarFiles: 200, pacedFor: 1500 * time.Millisecond,
	}
)

func main() {
	cfg := config{progress: os.Stderr}
	flag.IntVar(&cfg.rounds, "rounds", 5, "rounds; every mode is measured once per round, in a rotated order")
	flag.BoolVar(&cfg.quick, "quick", false, "smoke test: tiny workloads, 1 round")
	flag.StringVar(&cfg.out, "out", "", "also write the markdown report to this file")
	flag.BoolVar(&cfg.skipRealistic, "skip-realistic", false, "skip the redis (or tar) workload")
	flag.BoolVar(&cfg.skipStrace, "skip-strace", false, "skip the strace mode")
	flag.DurationVar(&cfg.quietWait, "quiet-wait", time.Minute,
		"before each run, wait up to this long for other processes' BPF programs on sys_enter/sys_exit to go (they distort every mode); runs they overlap are repeated")
	flag.StringVar(&cfg.exporterBin, "exporter", "", "benchmark this exporter binary instead of building ./cmd/flightrec_exporter")
	flag.StringVar(&cfg.realistic, "realistic", "auto", "realistic workload: auto (redis if installed, else tar), redis or tar")
	flag.Parse()
	cfg.sizes = fullSizes
	if cfg.quick {
		cfg.rounds, cfg.sizes, cfg.quietWait = 1, quickSizes, 0
	}
	if cfg.rounds < 1 {
		fmt.Fprintln(os.Stderr, "bench: -rounds must be at least 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}

// run executes the benchmark and writes the report to w (and cfg.out).
func run(ctx context.Context, cfg config, w io.Writer) (err error) {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root: loads BPF programs and creates cgroups")
	}
	b, err := newBench(ctx, cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := b.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	if err := b.measure(ctx); err != nil {
		return err
	}
	report := b.report()
	if _, err := io.WriteString(w, report); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	if cfg.out != "" {
		if err := os.MkdirAll(filepath.Dir(cfg.out), 0o755); err != nil {
			return fmt.Errorf("creating the directory of %s: %w", cfg.out, err)
		}
		if err := os.WriteFile(cfg.out, []byte(report), 0o644); err != nil {
			return fmt.Errorf("writing %s: %w", cfg.out, err)
		}
	}
	return nil
}
