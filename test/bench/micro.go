package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
)

// microWorkload is a tight syscall loop of the workload binary.
type microWorkload struct {
	key   string // results key, and the workload subcommand unless cmd is set
	cmd   string // the workload subcommand, when it is not key
	title string
	iters func(sizes) int
	args  []string // extra workload flags
	// notable: every call fails with an incident errno. Measured in a
	// tracked container only (outside there is no tape), under the modes
	// that tell incidents apart; it is the storm under the default
	// exporter and one incident with context per call unthrottled.
	notable bool
	// readOnlyFile: the workload opens the read-only tmpfs's file (-path).
	readOnlyFile bool
	// incidentErrnos, when set, is the exporter's --recorder.incident-errnos
	// in the modes with incidents on.
	incidentErrnos string
}

// subcommand is the workload binary's subcommand that runs w.
func (w microWorkload) subcommand() string {
	if w.cmd != "" {
		return w.cmd
	}
	return w.key
}

// Keys of the workloads the incident targets compare: today's failing
// openat; the same openat made notable (ENOENT added to the incident
// errnos: what differs is the incident alone); and an openat failing with
// a default incident errno (EROFS), a syscall of its own.
const (
	wlOpenat      = "openat"
	wlNotableSame = "openat-notable"
	wlNotable     = "openat-erofs"
)

// notableENOENT are the default incident errnos and ENOENT.
var notableENOENT = strings.Join(append(slices.Clone(bpf.DefaultIncidentErrnos), "ENOENT"), ",")

var microWorkloads = []microWorkload{
	{key: "getppid", title: "getppid (tight cheap syscall)", iters: func(s sizes) int { return s.getppid }},
	{key: wlOpenat, title: "failing openat (ENOENT, path capture)", iters: func(s sizes) int { return s.openat }},
	{key: "fileio", title: "file I/O on tmpfs (openat + write 64 B + close)", iters: func(s sizes) int { return s.fileio },
		args: []string{"-dir", "/dev/shm"}},
	{key: wlNotableSame, cmd: wlOpenat, title: "failing openat made notable (ENOENT added to the incident errnos, path capture)",
		iters: func(s sizes) int { return s.openat }, notable: true, incidentErrnos: notableENOENT},
	{key: wlNotable, title: "failing openat, notable errno (EROFS: O_WRONLY on a read-only tmpfs, path capture)",
		iters: func(s sizes) int { return s.openat }, notable: true, readOnlyFile: true},
}

// placements are where w runs.
func (w microWorkload) placements() []string {
	if w.notable {
		return []string{placeTracked}
	}
	return placements
}

// measures says whether w runs under mode m: the unthrottled exporter
// only matters for notable failures; strace and capture 0 tell nothing
// about incidents.
func (w microWorkload) measures(m modeInfo) bool {
	if w.notable {
		return m.id != modeStrace && m.id != modeExporterNoCapture
	}
	return m.id != modeExporterUnthrottled
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
	// incidents kept with context and suppressed (kept without), per
	// syscall the workload made; -1 when the mode has no exporter.
	kept, suppressed float64
	foreign          bool // other processes' syscall tracers were attached
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
	argv := append([]string{b.workload, w.subcommand(), "-n", strconv.Itoa(n)}, w.args...)
	if w.readOnlyFile {
		argv = append(argv, "-path", b.ro.file)
	}
	if cpu := workloadCPU(); cpu >= 0 {
		argv = append(argv, "-cpu", strconv.Itoa(cpu))
	}
	argv, tracer := s.wrap(argv)
	if tracer {
		argv = append(argv, "-tracer-cpu")
	}
	var before counters
	if s.exp != nil {
		var err error
		if before, err = s.exp.counters(); err != nil {
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
		records: -1, kept: -1, suppressed: -1,
	}
	if s.exp != nil {
		after, err := s.exp.counters()
		if err != nil {
			return microSample{}, err
		}
		made := float64(r.syscalls + r.warmup)
		smp.records = (after.records - before.records) / made
		smp.kept = (after.kept - before.kept) / made
		smp.suppressed = (after.suppressed - before.suppressed) / made
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
