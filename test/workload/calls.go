package main

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func getppid(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
	return nil
}

const atFDCWD = ^uintptr(99) // -100

func openatMissing(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	path, _ := syscall.BytePtrFromString("/nonexistent/flightrec-workload")
	for i := 0; i < n; i++ {
		syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), 0, 0, 0, 0)
	}
	return nil
}

// patternWrite is the i-th buffer write-pattern writes (test/recorder
// checks records against the same formula): its length depends on i, so a
// record mixing two writes (the buffer of one, the count of another) shows.
func patternWrite(i int) string {
	return "flightrec-" + strconv.Itoa(i) + "-" + strings.Repeat("x", i%32)
}

func writePattern(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	fd, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		return err
	}
	for i := 0; n == 0 || i < n; i++ {
		b := []byte(patternWrite(i))
		syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)))
	}
	return nil
}

func openFail(args []string) error {
	if len(args) < 2 {
		return errors.New("want PATH N")
	}
	n, err := count(args, 1)
	if err != nil {
		return err
	}
	path, _ := syscall.BytePtrFromString(args[0])
	failed := 0
	for i := 0; i < n; i++ {
		fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), syscall.O_RDONLY, 0, 0, 0)
		if e != 0 {
			failed++
		} else {
			syscall.Close(int(fd))
		}
	}
	fmt.Println(failed)
	return nil
}

func emfile(args []string) error {
	limit, err := count(args, 0)
	if err != nil {
		return err
	}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(limit), Max: uint64(limit)}); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	path, _ := syscall.BytePtrFromString("/dev/null")
	for i := 0; i <= limit; i++ {
		_, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), syscall.O_RDONLY, 0, 0, 0)
		if e == syscall.EMFILE {
			fmt.Println(i)
			return nil
		}
	}
	return errors.New("never hit EMFILE")
}

func mmapENOMEM(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return err
	}
	var vmKB uint64
	for _, line := range strings.Split(string(status), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmSize:" {
			vmKB, _ = strconv.ParseUint(f[1], 10, 64)
		}
	}
	limit := vmKB*1024 + 256<<20
	if err := syscall.Setrlimit(syscall.RLIMIT_AS, &syscall.Rlimit{Cur: limit, Max: limit}); err != nil {
		return fmt.Errorf("setrlimit: %w", err)
	}
	refused := 0
	for i := 0; i < n; i++ {
		_, _, e := syscall.RawSyscall6(syscall.SYS_MMAP, 0, 1<<30, syscall.PROT_READ|syscall.PROT_WRITE,
			syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS, ^uintptr(0), 0)
		if e == syscall.ENOMEM {
			refused++
		}
	}
	fmt.Println(refused)
	return nil
}

// connectTimeout connects to a loopback listener with a zero backlog whose
// queue is already full, so the kernel drops the SYNs and connect times out
// (set net.ipv4.tcp_syn_retries low in a private network namespace first).
func connectTimeout(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	ln, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return err
	}
	addr := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(ln, addr); err != nil {
		return fmt.Errorf("bind: %w", err)
	}
	if err := syscall.Listen(ln, 0); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	sa, err := syscall.Getsockname(ln)
	if err != nil {
		return err
	}
	addr.Port = sa.(*syscall.SockaddrInet4).Port
	dial := func() error {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
		if err != nil {
			return err
		}
		return syscall.Connect(fd, addr) // the fd is left open: it holds its place in the queue
	}
	if err := dial(); err != nil {
		return fmt.Errorf("first connect should fill the queue: %w", err)
	}
	timedOut := 0
	for i := 0; i < n; i++ {
		if err := dial(); errors.Is(err, syscall.ETIMEDOUT) {
			timedOut++
		}
	}
	fmt.Println(timedOut)
	return nil
}

const (
	futexWaitPrivate = 128 | 0
	futexWakePrivate = 128 | 1
)

func futexTimeout(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	var word uint32
	ts := syscall.NsecToTimespec(int64(time.Millisecond))
	timedOut := 0
	for i := 0; i < n; i++ {
		_, _, e := syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&word)), futexWaitPrivate, 0,
			uintptr(unsafe.Pointer(&ts)), 0, 0)
		if e == syscall.ETIMEDOUT {
			timedOut++
		}
	}
	fmt.Println(timedOut)
	return nil
}

func fsync(args []string) error {
	if len(args) < 2 {
		return errors.New("want PATH N")
	}
	n, err := count(args, 1)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(args[0], os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var inside time.Duration
	for i := 0; i < n; i++ {
		if _, err := f.Write([]byte("flightrec fsync\n")); err != nil {
			return err
		}
		begin := time.Now()
		_, _, e := syscall.Syscall(syscall.SYS_FSYNC, f.Fd(), 0, 0)
		inside += time.Since(begin)
		if e != 0 {
			return e
		}
	}
	fmt.Println(inside.Nanoseconds())
	return nil
}

// mutex makes two OS threads contend for a futex-based lock: the holder
// keeps it HOLD_MS, the other blocks in FUTEX_WAIT meanwhile.
func mutex(args []string) error {
	m, err := count(args, 0)
	if err != nil {
		return err
	}
	holdMs, err := count(args, 1)
	if err != nil {
		return err
	}
	var lock uint32 // 0 free, 1 held
	var waits atomic.Int64
	acquire := func() {
		for !atomic.CompareAndSwapUint32(&lock, 0, 1) {
			waits.Add(1)
			syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&lock)), futexWaitPrivate, 1, 0, 0, 0)
		}
	}
	release := func() {
		atomic.StoreUint32(&lock, 0)
		syscall.Syscall6(syscall.SYS_FUTEX, uintptr(unsafe.Pointer(&lock)), futexWakePrivate, 1, 0, 0, 0)
	}
	var wg sync.WaitGroup
	held, done := make(chan struct{}), make(chan struct{})
	wg.Add(2)
	go func() { // holder
		defer wg.Done()
		runtime.LockOSThread()
		for i := 0; i < m; i++ {
			acquire()
			held <- struct{}{}
			time.Sleep(time.Duration(holdMs) * time.Millisecond)
			release()
			<-done
		}
		close(held)
	}()
	go func() { // waiter: blocks while the holder sleeps with the lock
		defer wg.Done()
		runtime.LockOSThread()
		for range held {
			acquire()
			release()
			done <- struct{}{}
		}
	}()
	wg.Wait()
	fmt.Println(waits.Load())
	return nil
}

// fdSyscalls take a file descriptor first and fail with EBADF on -1, on
// both amd64 and arm64.
var fdSyscalls = []uintptr{
	unix.SYS_READ, unix.SYS_WRITE, unix.SYS_CLOSE, unix.SYS_FSTAT,
	unix.SYS_LSEEK, unix.SYS_DUP, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
	unix.SYS_FCHDIR, unix.SYS_FCHMOD, unix.SYS_FCHOWN, unix.SYS_FTRUNCATE,
	unix.SYS_FLOCK, unix.SYS_GETDENTS64, unix.SYS_FSTATFS, unix.SYS_SYNCFS,
}

// ebadf fails many distinct syscalls with the same errno, each a different
// number of times, so that a count credited to the wrong syscall shows.
func ebadf(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	calls := 0
	for i, nr := range fdSyscalls {
		var arg uintptr // NULL buffers, length 0: the fd is checked first
		if nr == unix.SYS_FLOCK {
			arg = unix.LOCK_SH // a bad operation would fail with EINVAL first
		}
		for j := 0; j < n+i; j++ {
			_, _, errno := syscall.RawSyscall(nr, ^uintptr(0), arg, 0)
			if errno != syscall.EBADF {
				return fmt.Errorf("syscall %d on fd -1: want EBADF, got %v", nr, errno)
			}
			calls++
		}
	}
	fmt.Println(calls)
	return nil
}

// threadsExit starts n threads that spin on their CPUs (without syscalls,
// which would fill the ring) and, once all of them run, exits the process
// with code: exit_group makes every thread leave at the same moment, the
// case where several threads can find the process's live count at zero.
var spin atomic.Uint64

func threadsExit(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	code, err := count(args, 1)
	if err != nil {
		return err
	}
	var running sync.WaitGroup
	running.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			runtime.LockOSThread()
			running.Done()
			for x := 0; ; x++ {
				spin.Add(uint64(x & 1))
			}
		}()
	}
	running.Wait()
	os.Exit(code)
	return nil
}

// alloc touches MIB MiB of memory and keeps it, a MiB at a time, so that a
// memory limit below that gets it OOM killed; with no limit it exits 0.
func alloc(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	var kept [][]byte
	for i := 0; i < n; i++ {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1
		}
		kept = append(kept, b)
	}
	runtime.KeepAlive(kept)
	return nil
}

// efault passes an address nothing is mapped at as openat's path: the
// kernel fails with EFAULT, and the recorder cannot copy the path either.
func efault(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	const unmapped = 0x10 // below mmap_min_addr: never mapped
	for i := 0; i < n; i++ {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, unmapped, 0, 0, 0, 0)
		if errno != syscall.EFAULT {
			return fmt.Errorf("openat of an unmapped path: want EFAULT, got %v", errno)
		}
	}
	fmt.Println(n)
	return nil
}

// fsyncCost times N calls of a watched syscall that does no work
// (fdatasync of fd -1 fails at once) the way fsync times its calls, and
// prints the ns: what the time around an fsync holds besides the kernel's
// own fsync time.
func fsyncCost(args []string) error {
	n, err := count(args, 0)
	if err != nil {
		return err
	}
	var around time.Duration
	for i := 0; i < n; i++ {
		begin := time.Now()
		syscall.Syscall(syscall.SYS_FDATASYNC, ^uintptr(0), 0, 0)
		around += time.Since(begin)
	}
	fmt.Println(around.Nanoseconds())
	return nil
}

// runtimeInitComm is the name runc's init stage gives itself.
const runtimeInitComm = "runc:[2:INIT]"

// asRuntime does what a container runtime's init does in the container's
// cgroup before the entrypoint: it enters the cgroup under the runtime's
// name (as runc's parent puts its child there), makes syscalls of its own
// that fail, and then execs the entrypoint.
func asRuntime(args []string) error {
	if len(args) < 3 {
		return errors.New("want PROCS N PROG ARGS...")
	}
	n, err := count(args, 1)
	if err != nil {
		return err
	}
	runtime.LockOSThread() // the exec runs on a renamed thread
	// Every thread: whichever runs first in the cgroup is the runtime's.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, task := range tasks {
		if err := os.WriteFile("/proc/self/task/"+task.Name()+"/comm", []byte(runtimeInitComm), 0); err != nil {
			return fmt.Errorf("naming thread %s: %w", task.Name(), err)
		}
	}
	if err := os.WriteFile(args[0], []byte(strconv.Itoa(os.Getpid())), 0); err != nil {
		return fmt.Errorf("joining the cgroup: %w", err)
	}
	for i := 0; i < n; i++ {
		if _, err := unix.Open("/nonexistent/runtime-setup", unix.O_RDONLY, 0); !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("setup open: %v, want ENOENT", err)
		}
	}
	return syscall.Exec(args[2], args[2:], os.Environ())
}

// failEvery makes a failing open now and then, as a service that hits a
// permission problem once a second among its ordinary work.
func failEvery(args []string) error {
	if len(args) < 3 {
		return errors.New("want PATH N MS")
	}
	n, err := count(args, 1)
	if err != nil {
		return err
	}
	ms, err := count(args, 2)
	if err != nil {
		return err
	}
	path, _ := syscall.BytePtrFromString(args[0])
	failed := 0
	for i := 0; i < n; i++ {
		if i > 0 {
			time.Sleep(time.Duration(ms) * time.Millisecond)
		}
		fd, _, e := syscall.RawSyscall6(syscall.SYS_OPENAT, atFDCWD, uintptr(unsafe.Pointer(path)), syscall.O_RDONLY, 0, 0, 0)
		if e != 0 {
			failed++
		} else {
			syscall.Close(int(fd))
		}
	}
	fmt.Println(failed)
	return nil
}
