package main

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
)

// realistic is the one real program the benchmark runs: redis, or tar when
// redis is not installed.
type realistic interface {
	name() string
	// unit of value, and whether more is better (throughput) or worse (time).
	unit() (string, bool)
	cpuUnit() string
	run(ctx context.Context, b *bench, s *session) (realSample, error)
	format(realSample) string
}

// realSample is one run of the realistic workload.
type realSample struct {
	value float64 // requests/s (redis) or seconds per run (tar)
	cpu   float64 // CPU of the traced container per request (µs) or per run (s)
}

// pickRealistic prefers redis and falls back to tar (-realistic auto).
func (b *bench) pickRealistic() (realistic, error) {
	switch b.cfg.realistic {
	case "", "auto", "redis", "tar":
	default:
		return nil, fmt.Errorf("-realistic %q: must be auto, redis or tar", b.cfg.realistic)
	}
	if b.cfg.realistic != "tar" {
		server, err1 := exec.LookPath("redis-server")
		client, err2 := exec.LookPath("redis-benchmark")
		if err1 == nil && err2 == nil {
			taskset, _ := exec.LookPath("taskset") // optional: only pins the client
			return &redisWorkload{server: server, client: client, taskset: taskset}, nil
		}
		if b.cfg.realistic == "redis" {
			return nil, fmt.Errorf("-realistic redis: %w (apt-get install redis-server redis-tools)", errors.Join(err1, err2))
		}
		b.notes = append(b.notes, "redis-server/redis-benchmark are not installed (apt-get install redis-server redis-tools): the realistic workload is tar.")
	}
	tarBin, err := exec.LookPath("tar")
	if err != nil {
		b.notes = append(b.notes, "tar is not installed either: no realistic workload.")
		return nil, nil
	}
	t := &tarWorkload{tar: tarBin}
	if err := t.prepare(b.shm, b.cfg.sizes.tarFiles); err != nil {
		return nil, err
	}
	return t, nil
}

// loss is the throughput lost against none, in percent: 100·(1 − thr/thr0).
func loss(r realistic, v, none float64) float64 {
	if _, higherBetter := r.unit(); higherBetter {
		return 100 * (1 - v/none)
	}
	return 100 * (1 - none/v) // v is time per run: throughput is its inverse
}
