// Package metrics_test checks that the counts the kernel keeps are exactly
// what real workloads did, as scraped from a running exporter. Needs root.
package metrics_test

import (
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

type env struct {
	cg       *testenv.Cgroups
	e        *testenv.Exporter
	workload string
}

func setup(t *testing.T, args ...string) *env {
	t.Helper()
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, append([]string{"--recorder.cgroup-parent=" + cg.Parent}, args...)...)
	return &env{cg: cg, e: e, workload: testenv.Build(t, "./test/workload")}
}

// container makes a kubelet-shaped container cgroup.
func (v *env) container(t *testing.T) string {
	return v.cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
}

// run runs the workload in cgroup and returns the number it prints.
func (v *env) run(t *testing.T, cgroup string, cred *syscall.Credential, args ...string) int {
	t.Helper()
	out, code := v.cg.Run(t, cgroup, cred, v.workload, args...)
	if code != 0 {
		t.Fatalf("workload %v: exit %d: %s", args, code, out)
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatalf("workload %v printed %q", args, out)
	}
	return n
}

func errorsOf(t *testing.T, m testenv.Metrics, cgroup, syscallName, errno string) float64 {
	t.Helper()
	v, _ := m.Value(t, "flightrec_syscall_errors_total", map[string]string{"container": cgroup, "syscall": syscallName, "errno": errno})
	return v
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

func TestEACCESCountedExactlyPerContainer(t *testing.T) {
	v := setup(t)
	a, b := v.container(t), v.container(t)
	secret := filepath.Join(t.TempDir(), "secret") // the test's temp dir is root-only
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	const ka, kb = 37, 5
	if n := v.run(t, a, nobody, "open-fail", secret, strconv.Itoa(ka)); n != ka {
		t.Fatalf("workload failed %d opens, want %d", n, ka)
	}
	if n := v.run(t, b, nobody, "open-fail", secret, strconv.Itoa(kb)); n != kb {
		t.Fatalf("workload failed %d opens, want %d", n, kb)
	}
	m := v.e.Scrape(t)
	if got := errorsOf(t, m, a, "openat", "EACCES"); got != ka {
		t.Errorf("container A: openat EACCES = %v, want %d", got, ka)
	}
	if got := errorsOf(t, m, b, "openat", "EACCES"); got != kb {
		t.Errorf("container B: openat EACCES = %v, want %d", got, kb)
	}
	series := m.Find("flightrec_syscall_errors_total", map[string]string{"container": a, "syscall": "openat", "errno": "EACCES"})
	for _, l := range series[0].Label {
		if (l.GetName() == "namespace" || l.GetName() == "pod") && l.GetValue() != "" {
			t.Errorf("plain host: label %s=%q, want empty", l.GetName(), l.GetValue())
		}
	}
}

func TestErrorExemplarPointsAtTheFailingRecord(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v.run(t, c, nobody, "open-fail", secret, "4")
	code, body := v.e.Get(t, "/metrics", "Accept", "application/openmetrics-text; version=1.0.0; charset=utf-8")
	if code != 200 {
		t.Fatalf("OpenMetrics scrape: %d", code)
	}
	re := regexp.MustCompile(`(?m)^flightrec_syscall_errors_total\{[^}]*container="` + regexp.QuoteMeta(c) +
		`"[^}]*errno="EACCES"[^}]*syscall="openat"\} 4(\.0)? # \{cgroup_id="(\d+)",seq="(\d+)"\} 1(\.0)? \S+$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no exemplar on the EACCES series:\n%s", body)
	}
	run, _ := strconv.ParseUint(m[2], 10, 64)
	seq, _ := strconv.ParseUint(m[3], 10, 64)
	d := v.e.MustGet(t, "/dump?format=json&failed=true&syscall=openat&cgroup="+url.QueryEscape(c))
	var rd dump.RingDump
	if err := json.Unmarshal([]byte(d), &rd); err != nil {
		t.Fatal(err)
	}
	last := rd.Entries[len(rd.Entries)-1]
	if last.Seq != seq || last.Errno != "EACCES" || !strings.Contains(last.Params, secret) {
		t.Errorf("exemplar seq %d, newest failed openat in the dump: %+v", seq, last)
	}
	if run != rd.CgroupID {
		t.Errorf("exemplar cgroup_id %d, the container's ring is cgroup %d's", run, rd.CgroupID)
	}
	// The text format has no exemplars.
	if strings.Contains(v.e.MustGet(t, "/metrics"), "# {") {
		t.Error("exemplar in the classic text format")
	}
}

func TestEMFILECounted(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	v.run(t, c, nil, "emfile", "16")
	if got := errorsOf(t, v.e.Scrape(t), c, "openat", "EMFILE"); got != 1 {
		t.Errorf("openat EMFILE = %v, want 1", got)
	}
}

func TestENOMEMCounted(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	const n = 7
	if got := v.run(t, c, nil, "mmap-enomem", strconv.Itoa(n)); got != n {
		t.Fatalf("workload saw %d ENOMEM, want %d", got, n)
	}
	if got := errorsOf(t, v.e.Scrape(t), c, "mmap", "ENOMEM"); got != n {
		t.Errorf("mmap ENOMEM = %v, want %d", got, n)
	}
}

func TestETIMEDOUTOnConnectAndFutexAreDistinct(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	// A private network namespace: loopback only, SYNs to a full accept
	// queue are dropped, one SYN retry.
	cmd := v.cg.Command(t, c, "unshare", "--net", "sh", "-c",
		"ip link set lo up && sysctl -qw net.ipv4.tcp_syn_retries=1 && exec "+v.workload+" connect-timeout 2")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "2" {
		t.Fatalf("connect-timeout: %v: %q", err, out)
	}
	const futexes = 25
	if got := v.run(t, c, nil, "futex-timeout", strconv.Itoa(futexes)); got != futexes {
		t.Fatalf("workload saw %d futex timeouts, want %d", got, futexes)
	}
	m := v.e.Scrape(t)
	if got := errorsOf(t, m, c, "connect", "ETIMEDOUT"); got != 2 {
		t.Errorf("connect ETIMEDOUT = %v, want 2", got)
	}
	// The Go runtime of the workload may add timed-out futex waits of its own.
	if got := errorsOf(t, m, c, "futex", "ETIMEDOUT"); got < futexes {
		t.Errorf("futex ETIMEDOUT = %v, want ≥ %d", got, futexes)
	}
}

func TestFsyncCountAndLatency(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	dir, err := os.MkdirTemp("/var/tmp", "flightrec-fsync-") // a disk, not tmpfs
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	const n = 40
	insideNs := v.run(t, c, nil, "fsync", filepath.Join(dir, "f"), strconv.Itoa(n))
	overheadNs := v.run(t, c, nil, "fsync-cost", strconv.Itoa(n))
	m := v.e.Scrape(t)
	labels := map[string]string{"container": c, "syscall": "fsync"}
	if got, _ := m.Value(t, "flightrec_syscalls_total", labels); got != n {
		t.Errorf("flightrec_syscalls_total{fsync} = %v, want %d", got, n)
	}
	count, sum, ok := m.Histogram(t, "flightrec_syscall_duration_seconds", labels)
	if !ok || count != n {
		t.Fatalf("fsync histogram count %d (found %v), want %d", count, ok, n)
	}
	measured, overhead := time.Duration(insideNs).Seconds(), time.Duration(overheadNs).Seconds()
	t.Logf("fsync: %.1fµs per call in the kernel, %.1fµs measured around it, %.1fµs around a failing fdatasync", sum/n*1e6, measured/n*1e6, overhead/n*1e6)
	// The kernel measures from sys_enter to sys_exit, inside what the
	// workload timed around each call: never more, on any filesystem.
	if sum <= 0 || sum > measured {
		t.Errorf("fsync time in kernel %.6fs, measured around the calls %.6fs", sum, measured)
	}
	// And most of it where fsync does real work: on a disk a call takes
	// 100 µs and more, far beyond the cost of timing a watched syscall that
	// does no work. On tmpfs, or under an emulator, where the two are
	// alike, the time around a call says little about the time inside.
	if mean, cost := measured/n, overhead/n; mean >= 100e-6 && mean >= 20*cost && sum < measured/4 {
		t.Errorf("fsync time in kernel %.6fs, less than a quarter of the %.6fs measured around %d calls of %.0fµs", sum, measured, n, mean*1e6)
	}
}

func TestFutexContentionCounted(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	// The waiter is meant to block through each hold, but on a busy machine
	// it may be scheduled too late for some: half the rounds must do.
	const rounds, holdMs = 10, 50
	waits := v.run(t, c, nil, "mutex", strconv.Itoa(rounds), strconv.Itoa(holdMs))
	if waits < rounds/2 {
		t.Fatalf("workload blocked %d times in %d rounds, want ≥ %d", waits, rounds, rounds/2)
	}
	m := v.e.Scrape(t)
	wait := map[string]string{"container": c, "syscall": "futex", "op": "wait"}
	n, _ := m.Value(t, "flightrec_syscalls_total", wait)
	if n < float64(waits) {
		t.Errorf("futex waits = %v, want ≥ %d", n, waits)
	}
	count, sum, ok := m.Histogram(t, "flightrec_syscall_duration_seconds", wait)
	// A round the waiter blocks in lasts most of the holder's holdMs.
	if min := float64(rounds/2) * holdMs / 2 / 1000; !ok || count < uint64(waits) || sum < min {
		t.Errorf("futex wait histogram: count %d sum %.3fs, want ≥ %d waits and ≥ %.3fs", count, sum, waits, min)
	}
	if wakes, _ := m.Value(t, "flightrec_syscalls_total", map[string]string{"container": c, "syscall": "futex", "op": "wake"}); wakes < rounds {
		t.Errorf("futex wakes = %v, want ≥ %d", wakes, rounds)
	}
}

// A container failing with more syscall/errno pairs than its ring has error
// slots (ERR_CACHE_SLOTS, 8): the pairs that find their slot taken are
// counted in the errors map instead, and when the ring is released its slots
// are folded into that map. Every count is exact, before and after.
func TestErrorCountsExactBeyondRingSlotsAndAfterRelease(t *testing.T) {
	v := setup(t, "--collector.grace-period=1h", "--recorder.reclaim-interval=100ms")
	c := v.container(t)
	const n = 3
	names := []string{"read", "write", "close", "fstat", "lseek", "dup", "fsync", "fdatasync",
		"fchdir", "fchmod", "fchown", "ftruncate", "flock", "getdents64", "fstatfs", "syncfs"}
	want := 0
	for i := range names {
		want += n + i
	}
	if got := v.run(t, c, nil, "ebadf", strconv.Itoa(n)); got != want {
		t.Fatalf("workload made %d calls, want %d", got, want)
	}
	check := func(when string) {
		t.Helper()
		m := v.e.Scrape(t)
		for i, name := range names {
			if got := errorsOf(t, m, c, name, "EBADF"); got != float64(n+i) {
				t.Errorf("%s: %s EBADF = %v, want %d", when, name, got, n+i)
			}
		}
	}
	check("container running")
	released := func() float64 {
		r, _ := v.e.Scrape(t).Value(t, "flightrec_recorder_rings_released_total", nil)
		return r
	}
	before := released()
	v.cg.Remove(t, c)
	deadline := time.Now().Add(30 * time.Second)
	for released() == before {
		if time.Now().After(deadline) {
			t.Fatal("ring not released 30s after its cgroup was removed")
		}
		time.Sleep(50 * time.Millisecond)
	}
	check("ring released")
}

func TestSeriesOfRemovedCgroupExpireAfterGrace(t *testing.T) {
	v := setup(t, "--collector.grace-period=2s", "--recorder.reclaim-interval=100ms")
	c := v.container(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	v.run(t, c, nobody, "open-fail", secret, "3")
	v.cg.Remove(t, c)
	removed := time.Now()
	if got := errorsOf(t, v.e.Scrape(t), c, "openat", "EACCES"); got != 3 {
		t.Fatalf("right after removal: %v, want the last value 3", got)
	}
	for {
		if len(v.e.Scrape(t).Find("flightrec_syscall_errors_total", map[string]string{"container": c})) == 0 {
			break
		}
		if time.Since(removed) > 30*time.Second {
			t.Fatal("series still exported 30s after the cgroup was removed")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if gone := time.Since(removed); gone < 2*time.Second {
		t.Errorf("series vanished after %s, before the 2s grace period", gone)
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := testenv.RequireTool(t, "promtool", "Debian package prometheus")
	v := setup(t)
	c := v.container(t)
	v.run(t, c, nil, "mutex", "2", "1")
	v.run(t, c, nil, "emfile", "16")
	body := v.e.MustGet(t, "/metrics")
	if !strings.Contains(body, "flightrec_syscall_errors_total{") || !strings.Contains(body, "flightrec_syscall_duration_seconds_bucket{") {
		t.Fatalf("scrape lacks the per-container metrics:\n%s", body)
	}
	m := v.e.Scrape(t)
	for _, name := range []string{"errors", "syscalls", "recorder"} {
		if ok, _ := m.Value(t, "flightrec_scrape_collector_success", map[string]string{"collector": name}); ok != 1 {
			t.Errorf("collector %s did not succeed", name)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
