package main

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// machineInfo describes where the benchmark ran.
type machineInfo struct {
	date, cpu, kernel, goVersion, memory string
	cores                                int
	tools                                map[string]string // tool → version line
}

func readMachine() machineInfo {
	m := machineInfo{
		date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		cores:     runtime.NumCPU(),
		goVersion: runtime.Version(),
		cpu:       cpuModel(),
		tools:     map[string]string{},
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.kernel = unix.ByteSliceToString(u.Release[:]) + " " + unix.ByteSliceToString(u.Machine[:])
	}
	m.memory = firstField("/proc/meminfo", "MemTotal:")
	for tool, args := range map[string][]string{"strace": {"-V"}, "redis-server": {"--version"}} {
		if out, err := exec.Command(tool, args...).Output(); err == nil {
			m.tools[tool] = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
		}
	}
	return m
}

// cpuModel is the CPU's name from /proc/cpuinfo (x86 "model name"; arm64
// kernels print no name, so fall back to the implementer/part ids).
func cpuModel() string {
	if v := firstField("/proc/cpuinfo", "model name"); v != "" {
		return v
	}
	impl, part := firstField("/proc/cpuinfo", "CPU implementer"), firstField("/proc/cpuinfo", "CPU part")
	if impl != "" {
		return "implementer " + impl + ", part " + part
	}
	return "unknown"
}

// firstField returns the value of the first "key: value" line of a file.
func firstField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == strings.TrimSuffix(key, ":") {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
