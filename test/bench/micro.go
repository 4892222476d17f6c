package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// microWorkload is a tight syscall loop of the workload binary.
type microWorkload struct {
	key   string // workload subcommand and results key
	title string
	iters func(sizes) int
	args  []string // extra workload flags
}

var microWorkloads = []microWorkload{
	{"getppid", "getppid (tight cheap syscall)", func(s sizes) int { return s.getppid }, nil},
	{"openat", "failing openat (ENOENT, path capture)", func(s sizes) int { return s.openat }, nil},
	{"fileio", "file I/O on tmpfs (openat + write 64 B + close)", func(s sizes) int { return s.fileio }, []string{"-dir", "/dev/shm"}},
}

// Placements of a micro workload: in a tracked container, or in a cgroup
// the exporter does not record.
const (
	placeTracked = "tracked"
	placeOutside = "outside"
)

var placements = []string{placeTracked, placeOutside}

// microSample is one run of a micro workload.
type microSample struct {
	cpuNs  float64 // on-CPU ns per syscall (workload thread, plus the tracer for strace)
	wallNs float64 // wall-clock ns per syscall
	// records written by the exporter per syscall the workload made; -1
	// when the mode has no exporter.
	records float64
	foreign bool // other processes' syscall tracers were attached
}

// better prefers clean runs, then less CPU per syscall.
func (s microSample) better(than microSample) bool {
	if s.foreign != than.foreign {
		return !s.foreign
	}
	return s.cpuNs < than.cpuNs
}

// workloadResult is the workload binary's result line.
type workloadResult struct {
	syscalls, warmup, elapsedNs, cpuNs, tracerCPUNs int64
}

// parseWorkload reads "result syscalls=N warmup=W elapsed_ns=T cpu_ns=C tracer_cpu_ns=P".
func parseWorkload(out string) (workloadResult, error) {
	var r workloadResult
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "result" {
			continue
		}
		fields := map[string]*int64{"syscalls": &r.syscalls, "warmup": &r.warmup,
			"elapsed_ns": &r.elapsedNs, "cpu_ns": &r.cpuNs, "tracer_cpu_ns": &r.tracerCPUNs}
		for _, kv := range f[1:] {
			k, v, _ := strings.Cut(kv, "=")
			if p, ok := fields[k]; ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return r, fmt.Errorf("workload result %q: %w", line, err)
				}
				*p = n
			}
		}
		if r.elapsedNs <= 0 {
			return r, fmt.Errorf("workload result %q: no time measured", line)
		}
		return r, nil
	}
	return r, fmt.Errorf("no result line in workload output %q", out)
}

// runMicro runs one micro workload under session s.
func (b *bench) runMicro(ctx context.Context, s *session, w microWorkload, placement string) (microSample, error) {
	n := w.iters(b.cfg.sizes)
	if s.mode.id == modeStrace {
		n = max(n/b.cfg.sizes.straceDivisor, 100)
	}
	cg := b.cg.outside()
	if placement == placeTracked {
		cg = b.cg.container(w.key)
	}
	argv := append([]string{b.workload, w.key, "-n", strconv.Itoa(n)}, w.args...)
	if cpu := workloadCPU(); cpu >= 0 {
		argv = append(argv, "-cpu", strconv.Itoa(cpu))
	}
	argv, tracer := s.wrap(argv)
	if tracer {
		argv = append(argv, "-tracer-cpu")
	}
	var before float64
	if s.exp != nil {
		var err error
		if before, err = s.exp.recordsWritten(); err != nil {
			return microSample{}, err
		}
	}
	out, err := b.runIn(ctx, cg, argv, 10*time.Minute)
	if err != nil {
		return microSample{}, err
	}
	r, err := parseWorkload(out)
	if err != nil {
		return microSample{}, err
	}
	if r.syscalls <= 0 {
		return microSample{}, fmt.Errorf("workload made no syscalls: %q", out)
	}
	smp := microSample{
		cpuNs:   float64(r.cpuNs+r.tracerCPUNs) / float64(r.syscalls),
		wallNs:  float64(r.elapsedNs) / float64(r.syscalls),
		records: -1,
	}
	if s.exp != nil {
		after, err := s.exp.recordsWritten()
		if err != nil {
			return microSample{}, err
		}
		smp.records = (after - before) / float64(r.syscalls+r.warmup)
	}
	return smp, nil
}

// workloadCPU is the CPU micro workloads are pinned to: the last one, as
// the system's own housekeeping tends to run on CPU 0. -1 (no pinning) on
// a single-CPU machine.
func workloadCPU() int {
	if n := runtime.NumCPU(); n > 1 {
		return n - 1
	}
	return -1
}

// runIn runs argv to completion as a process that starts inside cgroup cg
// (clone3 with CLONE_INTO_CGROUP: in it from its first syscall) and returns
// its standard output.
func (b *bench) runIn(ctx context.Context, cg string, argv []string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd, err := b.commandIn(cg, argv)
	if err != nil {
		return "", err
	}
	defer cmd.cgfd.Close()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("starting %s in %s: %w", argv[0], cg, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// Kill the whole cgroup: strace's tracees would outlive strace.
		_ = b.cg.kill(cg)
		<-done
		err = ctx.Err()
	}
	if err != nil {
		return "", fmt.Errorf("%s in %s: %w\n%s", strings.Join(argv, " "), cg, err, stderr.String())
	}
	return stdout.String(), nil
}

// cgroupCmd is an exec.Cmd that starts in a cgroup, with the cgroup's fd.
type cgroupCmd struct {
	*exec.Cmd
	cgfd *os.File
}

// commandIn prepares argv to start inside cgroup cg. The caller closes cgfd
// once the process has started.
func (b *bench) commandIn(cg string, argv []string) (*cgroupCmd, error) {
	fd, err := b.cg.open(cg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(fd.Fd())}
	return &cgroupCmd{Cmd: cmd, cgfd: fd}, nil
}
