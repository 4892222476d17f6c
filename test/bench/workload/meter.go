package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// meter measures one loop: wall time, the calling thread's CPU time and,
// optionally, the tracer's (the parent's) CPU time.
type meter struct {
	tracer bool

	warmup             int64 // syscalls made before start, untimed
	syscalls           int64
	wall               time.Time
	cpu, tracerCPU     int64
	elapsed            time.Duration
	cpuNs, tracerCPUNs int64
	tracerCPUErr       error
}

// start begins the measured interval. The loop must run on the locked
// thread that calls start and stop.
func (m *meter) start() {
	if m.tracer {
		m.tracerCPU, m.tracerCPUErr = parentCPU()
	}
	m.cpu = threadCPU()
	m.wall = time.Now()
}

// stop ends the measured interval, which did syscalls syscalls.
func (m *meter) stop(syscalls int64) {
	m.elapsed = time.Since(m.wall)
	m.cpuNs = threadCPU() - m.cpu
	if m.tracer && m.tracerCPUErr == nil {
		var end int64
		end, m.tracerCPUErr = parentCPU()
		m.tracerCPUNs = end - m.tracerCPU
	}
	m.syscalls = syscalls
}

func (m *meter) String() string {
	if m.tracerCPUErr != nil {
		return "error reading the tracer's CPU time: " + m.tracerCPUErr.Error()
	}
	return fmt.Sprintf("result syscalls=%d warmup=%d elapsed_ns=%d cpu_ns=%d tracer_cpu_ns=%d",
		m.syscalls, m.warmup, m.elapsed.Nanoseconds(), m.cpuNs, m.tracerCPUNs)
}

// threadCPU is the calling thread's CPU time in nanoseconds.
func threadCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(fmt.Sprintf("clock_gettime(CLOCK_THREAD_CPUTIME_ID): %v", err))
	}
	return ts.Nano()
}

// parentCPU is the CPU time of the parent process's threads in
// nanoseconds, from /proc/PPID/task/*/schedstat (first field: time on CPU).
// A ptrace tracer waits between stops, so its count is current.
func parentCPU() (int64, error) {
	dir := fmt.Sprintf("/proc/%d/task", os.Getppid())
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, fmt.Errorf("listing the tracer's threads: %w", err)
	}
	var sum int64
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // thread exited
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s/%s/schedstat: empty", dir, t.Name())
		}
		v, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s/%s/schedstat: %w", dir, t.Name(), err)
		}
		sum += v
	}
	return sum, nil
}
