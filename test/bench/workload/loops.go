package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
	"unsafe"
)

// missingPath is opened by the openat workload; it must not exist.
var missingPath = []byte("/nonexistent/flightrec-bench\x00")

func getppidLoop(n int) {
	for i := 0; i < n; i++ {
		syscall.RawSyscall(syscall.SYS_GETPPID, 0, 0, 0)
	}
}

func runGetppid(m *meter, n int) {
	m.warmup = int64(warmup(n))
	getppidLoop(int(m.warmup))
	m.start()
	getppidLoop(n)
	m.stop(int64(n))
}

func openatLoop(n int) error {
	p := uintptr(unsafe.Pointer(&missingPath[0]))
	for i := 0; i < n; i++ {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), p, syscall.O_RDONLY, 0, 0, 0)
		if errno != syscall.ENOENT {
			if errno == 0 {
				syscall.Close(int(fd))
			}
			return fmt.Errorf("openat %s: want ENOENT, got %v", missingPath[:len(missingPath)-1], errno)
		}
	}
	return nil
}

// atFDCWD is AT_FDCWD (-100) as the unsigned register value.
const atFDCWD = ^uintptr(99)

func runOpenat(m *meter, n int) error {
	m.warmup = int64(warmup(n))
	if err := openatLoop(int(m.warmup)); err != nil {
		return err
	}
	m.start()
	if err := openatLoop(n); err != nil {
		return err
	}
	m.stop(int64(n))
	return nil
}

// notableLoop opens path for writing n times; path is a file on a
// read-only mount, so every call fails with EROFS: an errno the recorder
// keeps on the container's incident tape (--recorder.incident-errnos).
func notableLoop(n int, path []byte) error {
	p := uintptr(unsafe.Pointer(&path[0]))
	for i := 0; i < n; i++ {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), p, syscall.O_WRONLY, 0, 0, 0)
		if errno != syscall.EROFS {
			if errno == 0 {
				syscall.Close(int(fd))
			}
			return fmt.Errorf("openat %s O_WRONLY: want EROFS, got %v", path[:len(path)-1], errno)
		}
	}
	return nil
}

func runNotable(m *meter, n int, path string) error {
	if path == "" {
		return fmt.Errorf("-path is needed: a file on a read-only mount")
	}
	p := append([]byte(path), 0)
	m.warmup = int64(warmup(n))
	if err := notableLoop(int(m.warmup), p); err != nil {
		return err
	}
	m.start()
	if err := notableLoop(n, p); err != nil {
		return err
	}
	m.stop(int64(n))
	return nil
}

func fileIOLoop(n int, path []byte, buf []byte) error {
	p := uintptr(unsafe.Pointer(&path[0]))
	b := uintptr(unsafe.Pointer(&buf[0]))
	for i := 0; i < n; i++ {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(atFDCWD), p, syscall.O_WRONLY, 0, 0, 0)
		if errno != 0 {
			return fmt.Errorf("openat: %w", errno)
		}
		w, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd, b, uintptr(len(buf)))
		if errno != 0 || int(w) != len(buf) {
			syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0)
			return fmt.Errorf("write: %d bytes, %v", w, errno)
		}
		if _, _, errno := syscall.RawSyscall(syscall.SYS_CLOSE, fd, 0, 0); errno != 0 {
			return fmt.Errorf("close: %w", errno)
		}
	}
	return nil
}

func runFileIO(m *meter, n int, dir string) error {
	name := filepath.Join(dir, fmt.Sprintf("flightrec-bench-%d", os.Getpid()))
	if err := os.WriteFile(name, nil, 0o600); err != nil {
		return fmt.Errorf("creating the fileio file: %w", err)
	}
	defer os.Remove(name)
	path := append([]byte(name), 0)
	buf := make([]byte, 64)
	for i := range buf {
		buf[i] = 'a' + byte(i%26)
	}
	m.warmup = 3 * int64(warmup(n))
	if err := fileIOLoop(warmup(n), path, buf); err != nil {
		return err
	}
	m.start()
	if err := fileIOLoop(n, path, buf); err != nil {
		return err
	}
	m.stop(3 * int64(n))
	return nil
}

// pacedTick is how often the paced loop wakes up to catch up with its rate.
const pacedTick = 5 * time.Millisecond

// runPaced calls getppid at rate calls per second for d, catching up at
// every tick with the calls that are due. A rate of 0 only sleeps.
func runPaced(m *meter, rate int, d time.Duration) {
	m.start()
	start := m.wall
	var done int64
	t := time.NewTicker(pacedTick)
	defer t.Stop()
	for {
		elapsed := time.Since(start)
		if elapsed >= d {
			elapsed = d
		}
		due := int64(float64(rate) * elapsed.Seconds())
		getppidLoop(int(due - done))
		done = due
		if elapsed >= d {
			break
		}
		<-t.C
	}
	m.stop(done)
}
