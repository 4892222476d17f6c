package bpf

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities the recorder needs (linux/capability.h numbers).
const (
	capSysAdmin    = 21
	capSysResource = 24
	capPerfmon     = 38
	capBPF         = 39
)

// missingCapabilities names the capabilities the recorder needs that this
// process does not have in effect: CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN
// stands for both). CAP_SYS_RESOURCE is named only when memlock is the
// problem, which the caller knows. nil when the set cannot be read.
func missingCapabilities() []string {
	eff, ok := effectiveCapabilities()
	if !ok || eff&(1<<capSysAdmin) != 0 {
		return nil
	}
	var out []string
	for _, c := range []struct {
		bit  uint
		name string
	}{{capBPF, "CAP_BPF"}, {capPerfmon, "CAP_PERFMON"}} {
		if eff&(1<<c.bit) == 0 {
			out = append(out, c.name)
		}
	}
	return out
}

// effectiveCapabilities reads CapEff from /proc/self/status.
func effectiveCapabilities() (uint64, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// permissionHint says what to do about a permission error from the
// kernel: the capabilities missing, if that is why.
func permissionHint() string {
	if m := missingCapabilities(); len(m) > 0 {
		return fmt.Sprintf("the exporter lacks %s: run it as root, or with CAP_BPF and CAP_PERFMON (and CAP_SYS_RESOURCE where BPF memory counts against RLIMIT_MEMLOCK)",
			strings.Join(m, " and "))
	}
	return "run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE"
}
