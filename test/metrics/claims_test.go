package metrics_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// value is the single series of name with labels, failing the test when
// there is none.
func value(t *testing.T, m testenv.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := m.Value(t, name, labels)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func TestRingPoolExhaustionStillCountsErrors(t *testing.T) {
	v := setup(t, "--recorder.max-containers=2")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Three containers, one after the other: the third finds both rings taken.
	cs := []string{v.container(t), v.container(t), v.container(t)}
	for i, c := range cs {
		if n := v.run(t, c, nobody, "open-fail", secret, strconv.Itoa(3+i)); n != 3+i {
			t.Fatalf("workload failed %d opens, want %d", n, 3+i)
		}
	}
	m := v.e.Scrape(t)
	for name, want := range map[string]float64{
		"flightrec_recorder_rings":                2,
		"flightrec_recorder_rings_assigned_total": 2,
		"flightrec_recorder_rings_refused_total":  1,
		"flightrec_recorder_untracked_containers": 1,
	} {
		if got := value(t, m, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	if got := value(t, m, "flightrec_recorder_untracked_syscalls_total", nil); got < 3 {
		t.Errorf("untracked_syscalls_total = %v, want at least the 3rd container's 5 failed opens", got)
	}
	// Errors are counted exactly with or without a ring.
	for i, c := range cs {
		if got := errorsOf(t, m, c, "openat", "EACCES"); got != float64(3+i) {
			t.Errorf("container %d: openat EACCES = %v, want %d", i+1, got, 3+i)
		}
	}
	if code, body := v.e.Get(t, "/dump?cgroup="+url.QueryEscape(cs[2])); code != 404 || !strings.Contains(body, "no ring") {
		t.Errorf("dump of the container without a ring: %d %q, want 404", code, body)
	}
	if code, _ := v.e.Get(t, "/dump?cgroup="+url.QueryEscape(cs[0])); code != 200 {
		t.Errorf("dump of a container with a ring: %d", code)
	}
}

// A container refused a ring (both slots taken) is recorded once a ring
// is free again: a container with a ring goes, its ring is reclaimed, and
// the refused container's next syscalls take it. Its dump says its ring
// began late.
func TestRefusedContainerRecordedOnceARingIsFree(t *testing.T) {
	v := setup(t, "--recorder.max-containers=2", "--recorder.reclaim-interval=100ms")
	cs := []string{v.container(t), v.container(t), v.container(t)}
	for _, c := range cs {
		v.run(t, c, nil, "open-fail", "/nonexistent/before-the-ring", "1")
	}
	if code, _ := v.e.Get(t, "/dump?cgroup="+url.QueryEscape(cs[2])); code != 404 {
		t.Fatalf("the third container has a ring (%d): the test needs it refused", code)
	}
	v.cg.Remove(t, cs[0])
	const path = "/nonexistent/after-the-late-ring"
	for deadline := time.Now().Add(15 * time.Second); ; {
		v.run(t, cs[2], nil, "open-fail", path, "3")
		if code, _ := v.e.Get(t, "/dump?cgroup="+url.QueryEscape(cs[2])); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the refused container has no ring 15 s after another container's was freed")
		}
	}
	v.run(t, cs[2], nil, "open-fail", path, "3")
	var d dump.RingDump
	if err := json.Unmarshal([]byte(v.e.MustGet(t, "/dump?format=json&failed=true&cgroup="+url.QueryEscape(cs[2]))), &d); err != nil {
		t.Fatal(err)
	}
	opens := 0
	for _, en := range d.Entries {
		if strings.Contains(en.Params, path) {
			opens++
		}
	}
	if !d.Late || opens < 3 {
		t.Errorf("the late ring: late %v, %d failed opens of %s shown; want late, and at least the last run's 3", d.Late, opens, path)
	}
	m := v.e.Scrape(t)
	for name, want := range map[string]float64{
		"flightrec_recorder_rings_assigned_late_total": 1,
		"flightrec_recorder_rings_refused_total":       1,
		"flightrec_recorder_untracked_containers":      0,
	} {
		if got := value(t, m, name, nil); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
}

func TestCardinalityCaps(t *testing.T) {
	const errorSeries, latencySeries = 4, 2
	v := setup(t, fmt.Sprintf("--collector.errors.max-series=%d", errorSeries), fmt.Sprintf("--collector.syscalls.max-series=%d", latencySeries))
	// 16 syscall × EBADF pairs in one container: 8 fit the ring's error
	// slots, 4 the errors map, the rest are counted as lost.
	c := v.container(t)
	v.run(t, c, nil, "ebadf", "1")
	// Three containers with futex waits and wakes: more watched series than fit.
	for i := 0; i < 3; i++ {
		v.run(t, v.container(t), nil, "mutex", "2", "1")
	}
	m := v.e.Scrape(t)
	if got := value(t, m, "flightrec_recorder_map_max_entries", map[string]string{"map": "errors"}); got != errorSeries {
		t.Errorf("errors map capacity %v, want %d", got, errorSeries)
	}
	if got := value(t, m, "flightrec_recorder_map_entries", map[string]string{"map": "errors"}); got > errorSeries {
		t.Errorf("errors map holds %v entries, more than its %d", got, errorSeries)
	}
	if got := value(t, m, "flightrec_recorder_map_full_total", map[string]string{"map": "errors"}); got < 1 {
		t.Errorf("map_full_total{map=errors} = %v, want the failures the full map could not count", got)
	}
	ebadf := len(m.Find("flightrec_syscall_errors_total", map[string]string{"container": c, "errno": "EBADF"}))
	t.Logf("%d EBADF series; errors map full %v; %d syscalls_total series; latency map full %v", ebadf,
		value(t, m, "flightrec_recorder_map_full_total", map[string]string{"map": "errors"}), len(m.Find("flightrec_syscalls_total", nil)),
		value(t, m, "flightrec_recorder_map_full_total", map[string]string{"map": "latencies"}))
	// The workload's runtime may fail syscalls of its own and take some of
	// the ring's slots first; either way not all 16 pairs find room.
	all := len(m.Find("flightrec_syscall_errors_total", map[string]string{"container": c}))
	if ebadf == 0 || ebadf >= 16 || all > 8+errorSeries {
		t.Errorf("%d EBADF series and %d in all, want some but not all 16 pairs, at most the ring's 8 slots + %d", ebadf, all, errorSeries)
	}
	if got := len(m.Find("flightrec_syscalls_total", nil)); got > latencySeries {
		t.Errorf("%d flightrec_syscalls_total series from %d latency counters", got, latencySeries)
	}
	if got := value(t, m, "flightrec_recorder_map_entries", map[string]string{"map": "latencies"}); got > latencySeries {
		t.Errorf("latency map holds %v entries, more than its %d", got, latencySeries)
	}
	if got := value(t, m, "flightrec_recorder_map_full_total", map[string]string{"map": "latencies"}); got < 1 {
		t.Errorf("map_full_total{map=latencies} = %v, want the futex calls of the containers that found no room", got)
	}
}

func TestPayloadFaultsCounted(t *testing.T) {
	v := setup(t)
	c := v.container(t)
	const n = 7
	before := value(t, v.e.Scrape(t), "flightrec_recorder_payload_faults_total", nil)
	v.run(t, c, nil, "efault", strconv.Itoa(n))
	after := value(t, v.e.Scrape(t), "flightrec_recorder_payload_faults_total", nil)
	t.Logf("payload_faults_total %v → %v", before, after)
	if after-before < n {
		t.Errorf("payload_faults_total grew by %v, want ≥ %d (the unreadable paths)", after-before, n)
	}
	var d dump.RingDump
	if err := json.Unmarshal([]byte(v.e.MustGet(t, "/dump?format=json&syscall=openat&failed=true&cgroup="+url.QueryEscape(c))), &d); err != nil {
		t.Fatal(err)
	}
	shown := 0
	for _, en := range d.Entries {
		if en.Errno == "EFAULT" && strings.Contains(en.Params, "0x10") {
			shown++
		}
	}
	if shown != n {
		t.Errorf("%d openat(0x10) = EFAULT records with the path shown as its pointer, want %d", shown, n)
	}
}

func TestExitsLostCounted(t *testing.T) {
	// A small ring: the flood overwrites the entry of a syscall blocked
	// meanwhile in another process of the container, whose exit then has
	// no record to complete.
	v := setup(t, "--recorder.ring-size=64")
	c := v.container(t)
	out, code := v.cg.Run(t, c, nil, "/bin/sh", "-c", "sleep 0.3 & exec "+v.workload+" getppid 200000")
	if code != 0 {
		t.Fatalf("workload: %d %s", code, out)
	}
	m := v.e.Scrape(t)
	t.Logf("exits_lost_total %v", value(t, m, "flightrec_recorder_exits_lost_total", nil))
	if got := value(t, m, "flightrec_recorder_exits_lost_total", nil); got < 1 {
		t.Errorf("exits_lost_total = %v, want ≥ 1 (sleep's clock_nanosleep)", got)
	}
	var d dump.RingDump
	if err := json.Unmarshal([]byte(v.e.MustGet(t, "/dump?format=json&limit=1&cgroup="+url.QueryEscape(c))), &d); err != nil {
		t.Fatal(err)
	}
	if d.ExitLost < 1 || d.Overwritten == 0 {
		t.Errorf("ring: exit_lost %d overwritten %d, want both > 0", d.ExitLost, d.Overwritten)
	}
}

// memoryLimited returns a shell prefix that puts the shell into a memory
// cgroup limited to limit bytes without swap before it execs its
// arguments: the cgroup2 controller on the recorded cgroup c where cgroup2
// has it, else a cgroup v1 memory cgroup beside it (hybrid hosts).
func memoryLimited(t *testing.T, cg *testenv.Cgroups, c string, limit int) string {
	t.Helper()
	write := func(path, value string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
			t.Fatalf("writing %s: %v", path, err)
		}
	}
	controllers, _ := os.ReadFile(filepath.Join(cg.Mount, "cgroup.controllers"))
	if strings.Contains(string(controllers), "memory") {
		// A bare cgroup2 root (a VM's init, no systemd) has not enabled
		// the controller for its children yet; systemd hosts have.
		root := filepath.Join(cg.Mount, "cgroup.subtree_control")
		if enabled, _ := os.ReadFile(root); !strings.Contains(string(enabled), "memory") {
			write(root, "+memory")
		}
		// Enable the controller from the test's subtree down to c's parent.
		dir := filepath.Join(cg.Mount, cg.Parent)
		write(filepath.Join(dir, "cgroup.subtree_control"), "+memory")
		for _, part := range strings.Split(strings.Trim(filepath.Dir(strings.TrimPrefix(c, cg.Parent)), "/"), "/") {
			if part == "" {
				continue
			}
			dir = filepath.Join(dir, part)
			write(filepath.Join(dir, "cgroup.subtree_control"), "+memory")
		}
		write(filepath.Join(cg.Mount, c, "memory.max"), strconv.Itoa(limit))
		if _, err := os.Stat(filepath.Join(cg.Mount, c, "memory.swap.max")); err == nil {
			write(filepath.Join(cg.Mount, c, "memory.swap.max"), "0")
		}
		return ""
	}
	v1 := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(v1, "memory.limit_in_bytes")); err != nil {
		testenv.SkipOrFail(t, "no memory controller in cgroup2 or cgroup v1: cannot limit a container's memory")
	}
	dir := filepath.Join(v1, "flightrec-oom-"+testenv.RandomHex(4))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		testenv.WaitFor(t, "the memory cgroup to empty", func() bool {
			err := os.Remove(dir)
			return err == nil || os.IsNotExist(err)
		})
	})
	write(filepath.Join(dir, "memory.limit_in_bytes"), strconv.Itoa(limit))
	if _, err := os.Stat(filepath.Join(dir, "memory.memsw.limit_in_bytes")); err == nil {
		write(filepath.Join(dir, "memory.memsw.limit_in_bytes"), strconv.Itoa(limit))
	}
	return "echo $$ > " + filepath.Join(dir, "cgroup.procs") + " && "
}

func TestOOMKillEndToEnd(t *testing.T) {
	v := setup(t, "--recorder.reclaim-interval=100ms")
	c := v.cg.Make(t, "/oom.scope")
	prefix := memoryLimited(t, v.cg, c, 32<<20)
	// The workload stops at 256 MiB: without the limit it exits 0.
	out, code := v.cg.Run(t, c, nil, "/bin/sh", "-c", prefix+"exec "+v.workload+" alloc 256")
	if code != -1 {
		t.Fatalf("workload exit %d, want death by SIGKILL from the OOM killer: %s", code, out)
	}
	var live dump.RingDump
	if err := json.Unmarshal([]byte(v.e.MustGet(t, "/dump?format=json&cgroup="+url.QueryEscape(c))), &live); err != nil {
		t.Fatal(err)
	}
	var oomPID uint32
	for _, en := range live.Entries {
		if en.Kind == dump.KindOOMKill {
			oomPID = en.PID
		}
	}
	if oomPID == 0 {
		t.Fatalf("no OOM kill record in the ring:\n%s", dumpText(live.Entries))
	}
	killed := false
	for _, en := range live.Entries {
		killed = killed || (en.Kind == dump.KindExit && en.PID == oomPID && en.Signal == "SIGKILL")
	}
	if !killed {
		t.Errorf("no death by SIGKILL of the OOM victim %d:\n%s", oomPID, dumpText(live.Entries))
	}
	// Once the container is gone its frozen ring says how it ended.
	v.cg.Remove(t, c)
	var prev dump.RingDump
	testenv.WaitFor(t, "the frozen ring", func() bool {
		code, body := v.e.Get(t, "/dump?format=json&previous=true&cgroup="+url.QueryEscape(c))
		return code == 200 && json.Unmarshal([]byte(body), &prev) == nil
	})
	if prev.Ended != "OOM killed" {
		t.Errorf("frozen ring ended %q, want OOM killed", prev.Ended)
	}
	var idx dump.Index
	if err := json.Unmarshal([]byte(v.e.MustGet(t, "/dump?format=json")), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Frozen) != 1 || idx.Frozen[0].Ended != "OOM killed" {
		t.Errorf("index of frozen rings %+v, want the container ended=\"OOM killed\"", idx.Frozen)
	}
}

func dumpText(entries []dump.Entry) string {
	var b strings.Builder
	_ = dump.WriteText(&b, entries, false)
	return b.String()
}
