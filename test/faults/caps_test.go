package faults_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// chartCaps is the capability set the Helm chart gives the exporter
// (charts/flightrec-exporter/values.yaml, securityContext.capabilities).
var chartCaps = []string{"bpf", "perfmon", "sys_resource"}

var capNumbers = map[string]uint{"sys_resource": 24, "perfmon": 38, "bpf": 39}

// withCaps runs the exporter as uid with exactly caps: its bounding,
// inheritable and ambient sets hold them and nothing else, and no new
// privileges can be gained, as in a container that drops ALL and adds them.
// A capability the test itself does not have cannot be given (CI's root
// lacks CAP_SYS_RESOURCE, which kernels that account BPF memory to the
// memory cgroup, 5.11 and later, do not need); it is left out and logged.
func withCaps(t *testing.T, uid string, caps []string) []string {
	t.Helper()
	testenv.RequireTool(t, "setpriv", "runs the exporter with a given capability set (Debian package util-linux)")
	bounding := capBounding(t)
	set := "-all"
	for _, c := range caps {
		if bounding&(1<<capNumbers[c]) == 0 {
			t.Logf("CAP_%s left out: this test does not have it", strings.ToUpper(c))
			continue
		}
		set += ",+" + c
	}
	return []string{"setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--bounding-set=" + set, "--no-new-privs", "--"}
}

func capBounding(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "CapBnd:"); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no CapBnd in /proc/self/status")
	return 0
}

// bpffs mounts a bpf filesystem of the test's own, owned by uid.
func bpffs(t *testing.T, uid int) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "flightrec-bpffs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	// The unprivileged exporter must reach it: the temp dir's mode, not
	// t.TempDir's 0700 parents.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("bpf", dir, "bpf", 0, "mode=0700"); err != nil {
		t.Fatalf("mounting a bpffs: %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The chart's least-privilege setting, for real: the exporter records,
// dumps, pins and counts with only CAP_BPF, CAP_PERFMON and
// CAP_SYS_RESOURCE, as uid 0 (the chart's user: bpffs and cgroupfs are
// root-owned) and as an unprivileged uid that owns its pin directory.
func TestChartCapabilitiesAreEnough(t *testing.T) {
	for _, uid := range []string{"0", "65534"} {
		t.Run("uid "+uid, func(t *testing.T) {
			cg := testenv.NewCgroups(t)
			c := cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
			n, _ := strconv.Atoi(uid)
			pins := filepath.Join(bpffs(t, n), "flightrec")
			e := testenv.StartExporterIn(t, withCaps(t, uid, chartCaps),
				"--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+pins)
			if _, code := cg.Run(t, c, nil, "/bin/sh", "-c", "cat /nonexistent/flightrec-caps; exit 3"); code != 3 {
				t.Fatalf("exit code %d, want 3", code)
			}
			dump := e.MustGet(t, "/dump?cgroup="+c)
			for _, want := range []string{`"/nonexistent/flightrec-caps"`, "-2 ENOENT", "exited with 3"} {
				if !strings.Contains(dump, want) {
					t.Errorf("dump lacks %q:\n%s", want, dump)
				}
			}
			m := e.Scrape(t)
			if v, _ := m.Value(t, "flightrec_syscall_errors_total", map[string]string{"container": c, "syscall": "openat", "errno": "ENOENT"}); v < 1 {
				t.Errorf("openat ENOENT counted %v times, want at least 1", v)
			}
			for _, name := range []string{"rings", "small_rings", "large_rings", "errors"} {
				if _, err := os.Stat(filepath.Join(pins, name)); err != nil {
					t.Errorf("not pinned: %v", err)
				}
			}
		})
	}
}

// Without CAP_PERFMON the exporter stops at once with one line that names
// the missing capability.
func TestWithoutPerfmonOneClearLine(t *testing.T) {
	testenv.RequireRoot(t)
	code, log := testenv.RunExporterToExit(t, withCaps(t, "0", []string{"bpf", "sys_resource"}), nil,
		"--web.listen-address="+testenv.FreePort(t), "--bpf.pin-path=")
	expectFailure(t, code, log, "CAP_PERFMON", "operation not permitted")
}
