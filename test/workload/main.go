// Command workload makes known syscalls for the tests and benchmarks: each
// subcommand does one thing a given number of times, so that tests can
// compare what the recorder saw with what was done.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

var commands = map[string]struct {
	usage string
	run   func(args []string) error
}{
	"getppid":         {"N", getppid},
	"openat-missing":  {"N", openatMissing},
	"write-pattern":   {"N (0: until killed)", writePattern},
	"open-fail":       {"PATH N: open PATH read-only N times (expected to fail)", openFail},
	"emfile":          {"LIMIT: lower RLIMIT_NOFILE to LIMIT and open /dev/null until EMFILE", emfile},
	"mmap-enomem":     {"N: cap the address space, then N mmaps too large for it", mmapENOMEM},
	"connect-timeout": {"N: N connects to a loopback listener whose accept queue is full", connectTimeout},
	"futex-timeout":   {"N: N futex waits that time out after 1ms", futexTimeout},
	"fsync":           {"PATH N: write and fsync PATH N times; prints the ns spent inside fsync", fsync},
	"mutex":           {"M HOLD_MS: two threads contend M times for a futex lock held HOLD_MS", mutex},
	"threads-exit":    {"N CODE: N threads busy in syscalls when the process exits with CODE (exit_group ends them all at once)", threadsExit},
	"socket-write":    {"[ARGS...] TEXT: write TEXT to one end of a socket pair; ARGS are ignored (they stand for a tool's flags)", socketWrite},
	"alloc":           {"MIB: touch MIB MiB of memory, one MiB at a time (to be OOM killed below a memory limit)", alloc},
	"efault":          {"N: N openat calls whose path is an unmapped address (EFAULT)", efault},
	"fsync-cost":      {"N: time N failing fdatasync calls as fsync times its calls; prints the ns", fsyncCost},
	"fail-every":      {"PATH N MS: open PATH read-only N times, one every MS milliseconds (expected to fail); prints the failures", failEvery},
	"as-runtime":      {"PROCS N PROG ARGS...: act as a container runtime's init: take runc's name, join the cgroup whose cgroup.procs is PROCS, fail N opens, then exec PROG", asRuntime},
	"ebadf":           {"N: the i-th of " + strconv.Itoa(len(fdSyscalls)) + " fd syscalls N+i times on fd -1 (EBADF); prints the calls", ebadf},
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		usage()
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "workload %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: workload COMMAND ARGS")
	for name, c := range commands {
		fmt.Fprintf(os.Stderr, "  %s %s\n", name, c.usage)
	}
	os.Exit(2)
}

// count parses a non-negative count argument.
func count(args []string, i int) (int, error) {
	if len(args) <= i {
		return 0, fmt.Errorf("missing argument %d", i+1)
	}
	n, err := strconv.Atoi(args[i])
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad count %q", args[i])
	}
	return n, nil
}

// socketWrite writes its last argument to a socket in one write(2).
func socketWrite(args []string) error {
	if len(args) < 1 {
		return fmt.Errorf("missing TEXT")
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		return fmt.Errorf("socketpair: %w", err)
	}
	defer syscall.Close(fds[0])
	defer syscall.Close(fds[1])
	if _, err := syscall.Write(fds[0], []byte(args[len(args)-1])); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}
