// Command workload makes known syscalls for the tests: each subcommand does
// one thing a given number of times, so that tests can compare what the
// recorder saw with what was done.
package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: workload getppid|openat-missing|write-pattern N")
		os.Exit(2)
	}
	n, err := strconv.Atoi(os.Args[2])
	if err != nil || n < 0 {
		fmt.Fprintf(os.Stderr, "workload: bad count %q\n", os.Args[2])
		os.Exit(2)
	}
	switch os.Args[1] {
	case "getppid":
		for i := 0; i < n; i++ {
			syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
		}
	case "openat-missing":
		path, _ := syscall.BytePtrFromString("/nonexistent/flightrec-workload")
		for i := 0; i < n; i++ {
			syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(0xffffff9c), uintptr(unsafe.Pointer(path)), 0, 0, 0, 0)
		}
	case "write-pattern":
		// write "flightrec-<i>" to /dev/null n times (0: until killed)
		fd, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
		if err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		for i := 0; n == 0 || i < n; i++ {
			b := []byte("flightrec-" + strconv.Itoa(i))
			syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
		}
	default:
		fmt.Fprintf(os.Stderr, "workload: unknown subcommand %q\n", os.Args[1])
		os.Exit(2)
	}
}
