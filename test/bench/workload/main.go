// Command workload is the benchmark's syscall load generator. It is started
// by the harness (test/bench) inside a container cgroup and measures itself:
// each subcommand runs a loop of raw syscalls and prints one result line,
//
//	result syscalls=N warmup=W elapsed_ns=T cpu_ns=C tracer_cpu_ns=P
//
// so that no tracer's cost on the harness side leaks into the number. N
// syscalls were timed after W untimed warm-up syscalls.
// cpu_ns is the on-CPU time of the measuring thread (CLOCK_THREAD_CPUTIME_ID):
// an in-kernel tracer's work runs on that thread and is counted there, while
// time spent preempted by other processes is not. With -tracer-cpu the CPU
// time of the parent process (a ptrace tracer such as strace, which does its
// work in its own process) during the loop is added too.
//
// Subcommands:
//
//	getppid -n N            N raw getppid calls
//	openat  -n N            N openat calls on a missing path (ENOENT)
//	fileio  -n N -dir D     N × (openat, write 64 bytes, close) on a file in D
//	openat-erofs -n N -path P
//	                        N openat(P, O_WRONLY) calls on a file on a
//	                        read-only mount (EROFS, a notable errno)
//	paced   -rate R -d DUR  getppid at R calls per second for DUR
//
// With -cpu N the measuring thread runs on CPU N only, so that runs do not
// differ by where the scheduler happened to put them.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload getppid|openat|openat-erofs|fileio|paced [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "iterations")
	dir := fs.String("dir", "/dev/shm", "directory of the fileio file (tmpfs)")
	path := fs.String("path", "", "openat-erofs: a file on a read-only mount")
	rate := fs.Int("rate", 10_000, "paced: getppid calls per second")
	dur := fs.Duration("d", 3*time.Second, "paced: how long to run")
	tracer := fs.Bool("tracer-cpu", false, "also count the parent process's (the tracer's) CPU time during the loop")
	cpu := fs.Int("cpu", -1, "pin the measuring thread to this CPU (-1: do not pin)")
	if err := fs.Parse(os.Args[2:]); err != nil {
		os.Exit(2)
	}
	// One OS thread does all the work; no allocation happens in the loops,
	// so the Go runtime stays quiet while they run.
	runtime.LockOSThread()
	if *cpu >= 0 {
		var set unix.CPUSet
		set.Set(*cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			fmt.Fprintf(os.Stderr, "workload: pinning to CPU %d: %v\n", *cpu, err)
			os.Exit(1)
		}
	}
	m := &meter{tracer: *tracer}
	var err error
	switch os.Args[1] {
	case "getppid":
		runGetppid(m, *n)
	case "openat":
		err = runOpenat(m, *n)
	case "openat-erofs":
		err = runNotable(m, *n, *path)
	case "fileio":
		err = runFileIO(m, *n, *dir)
	case "paced":
		runPaced(m, *rate, *dur)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
	fmt.Println(m)
}

// warmup is how many iterations run untimed before a measured loop, so that
// one-time costs (a container's ring assignment, cold caches) stay out.
func warmup(n int) int { return min(max(n/20, 100), 20_000) }
