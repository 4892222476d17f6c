package kernels

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"
)

// guestResult is what a guest reported on its console.
type guestResult struct {
	Release  string          // uname -r
	Machine  string          // uname -m
	Passed   map[string]bool // smoke and each suite: true passed, false failed
	Order    []string        // in the order reported
	Took     map[string]string
	Exporter []string // the exporter's own output, when the smoke test shows it
	ExitCode string   // the exporter's exit code in a refusal run
	Notes    []string
	Done     bool   // the guest ran to its end
	Log      string // the whole console
}

// qemuCommand is the emulator invocation for arch. TCG runs one thread
// (thread=single): multi-threaded TCG corrupts guests that patch their own
// code (jump labels, static calls), even while booting.
func qemuCommand(arch, vmlinuz, initrd, memory string, hostRoot bool) []string {
	var argv []string
	switch arch {
	case "arm64":
		argv = []string{"qemu-system-aarch64", "-M", "virt", "-cpu", "cortex-a72",
			"-append", "console=ttyAMA0 panic=-1 quiet"}
	default:
		argv = []string{"qemu-system-x86_64", "-append", "console=ttyS0 panic=-1 quiet"}
	}
	argv = append(argv, "-accel", "tcg,thread=single", "-nographic", "-no-reboot",
		"-m", memory, "-smp", "2", "-nic", "none",
		"-kernel", vmlinuz, "-initrd", initrd)
	if hostRoot {
		argv = append(argv, "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
	}
	return argv
}

// runGuest boots argv, copies its console to logw, and returns what the
// guest reported; timeout ends a guest that hangs.
func runGuest(ctx context.Context, argv []string, timeout time.Duration, logw io.Writer) (*guestResult, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = nil
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", argv[0], err)
	}
	res := &guestResult{Passed: map[string]bool{}, Took: map[string]string{}}
	var all strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			all.WriteString(line + "\n")
			if logw != nil {
				fmt.Fprintln(logw, line)
			}
			res.parse(line)
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	err := cmd.Wait()
	pw.Close()
	wg.Wait()
	res.Log = all.String()
	if ctx.Err() != nil {
		return res, fmt.Errorf("the guest did not finish within %s", timeout)
	}
	if err != nil && !res.Done {
		return res, fmt.Errorf("%s: %w", argv[0], err)
	}
	return res, nil
}

func (r *guestResult) parse(line string) {
	i := strings.Index(line, "FLIGHTREC-")
	if i < 0 {
		return
	}
	key, rest, _ := strings.Cut(line[i+len("FLIGHTREC-"):], " ")
	fields := strings.Fields(rest)
	switch key {
	case "KERNEL":
		if len(fields) == 2 {
			r.Release, r.Machine = fields[0], fields[1]
		}
	case "PASS", "FAIL":
		if len(fields) == 0 {
			return
		}
		r.Passed[fields[0]] = key == "PASS"
		r.Order = append(r.Order, fields[0])
		if len(fields) > 1 {
			r.Took[fields[0]] = fields[1]
		}
	case "EXPORTER":
		r.Exporter = append(r.Exporter, rest)
	case "EXIT":
		r.ExitCode = strings.TrimSpace(rest)
	case "NOTE":
		r.Notes = append(r.Notes, rest)
	case "DONE":
		r.Done = true
	}
}

// suiteOutput is the console output of one suite (its lines carry a
// "[suite] " prefix), for the test log when it failed.
func (r *guestResult) suiteOutput(suite string) string {
	var b strings.Builder
	prefix := "[" + suite + "] "
	for _, l := range strings.Split(r.Log, "\n") {
		if i := strings.Index(l, prefix); i >= 0 {
			b.WriteString(l[i+len(prefix):] + "\n")
		}
	}
	return b.String()
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// fileExists reports whether path names an existing file.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
