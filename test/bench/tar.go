package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// tarWorkload archives a generated tree on tmpfs, inside a tracked
// container: the fallback realistic workload when redis is missing.
type tarWorkload struct {
	tar  string
	tree string // the tree to archive
	out  string // the archive, on tmpfs
}

func (t *tarWorkload) name() string         { return "tar" }
func (t *tarWorkload) unit() (string, bool) { return "s/run", false }
func (t *tarWorkload) cpuUnit() string      { return "container CPU s/run" }
func (t *tarWorkload) format(s realSample) string {
	return fmt.Sprintf("%.3f s/run, %.3f s CPU/run", s.value, s.cpu)
}

// prepare writes files files of 4 KiB into 20 directories below dir.
func (t *tarWorkload) prepare(dir string, files int) error {
	t.tree = filepath.Join(dir, "tree")
	t.out = filepath.Join(dir, "tree.tar")
	buf := make([]byte, 4096)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	for i := 0; i < files; i++ {
		d := filepath.Join(t.tree, fmt.Sprintf("d%02d", i%20))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("generating the tar tree: %w", err)
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("f%05d", i)), buf, 0o644); err != nil {
			return fmt.Errorf("generating the tar tree: %w", err)
		}
	}
	return nil
}

func (t *tarWorkload) run(ctx context.Context, b *bench, s *session) (realSample, error) {
	cg := b.cg.container("tar")
	argv, _ := s.wrap([]string{t.tar, "-cf", t.out, "-C", t.tree, "."})
	if err := b.cg.create(cg); err != nil {
		return realSample{}, err
	}
	cpu0, err := b.cg.cpuUsec(cg)
	if err != nil {
		return realSample{}, err
	}
	start := time.Now()
	if _, err := b.runIn(ctx, cg, argv, 10*time.Minute); err != nil {
		return realSample{}, err
	}
	elapsed := time.Since(start)
	cpu1, err := b.cg.cpuUsec(cg)
	if err != nil {
		return realSample{}, err
	}
	return realSample{value: elapsed.Seconds(), cpu: float64(cpu1-cpu0) / 1e6}, nil
}
