// Package fullnode_test checks, on the real kernel, that the recorder
// copes with a full node (issue 15): hundreds of containers at once, each
// recorded from its first syscall within the kernel memory budget, with
// the exporter's own memory small; and thousands of short-lived
// containers coming and going without disturbing the ones that stay, the
// memory going back to where it started when they are all gone. Needs
// root.
package fullnode_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// The node's shape.
const (
	// TestFullNodeEveryCgroupRecorded: containers present at once.
	sleepers = 500 // idle, for the whole test
	crashers = 40  // fail an open of a path of their own, exit non-zero at once
	busy     = 10  // a tight loop of writes, for the whole test
	// startWorkers start containers side by side, as a node's runtime does.
	startWorkers = 4
	// startRate paces them. containerd + runc take 50-100 ms to start a
	// container on this machine (test/runtime), so a node starts at most
	// tens a second; this is several times that. Faster bursts than the
	// exporter makes rings (each change of the ring maps waits ~15 ms for
	// an RCU grace period) are served by the spare rings as far as they
	// go (README, Memory).
	startRate = 200 // containers a second

	// TestChurnKeepsLiveRings.
	longLived    = 50   // live throughout
	churned      = 2000 // short-lived, each in a cgroup of its own, removed after
	churnWorkers = 12   // short-lived containers at a time

	// What the exporter must meet with its default flags.
	defaultBudget = 192 << 20 // --recorder.memory-budget
	maxRSSAnon    = 64 << 20  // the exporter's own anonymous memory
	// How close to the baseline the ring memory must come back once every
	// container is gone.
	memTolerance = 1 << 20

	// How long the bulk checks poll before they report what is missing.
	pollTimeout = 60 * time.Second
)

const (
	sleepBin = "/usr/bin/sleep"
	shBin    = "/bin/sh"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// container is one workload in a cgroup of its own.
type container struct {
	kind  string // sleeper, crasher, busy, longlived
	i     int
	argv0 string // what its execve shows as argv[0]
	path  string // cgroup, relative to the mount
	id    uint64 // cgroup id
	cmd   *exec.Cmd
	code  int    // crasher: the exit code it must end with
	file  string // crasher: the path its failing open names

	exited  chan struct{} // crasher: it has exited and its cgroup is removed
	exitErr error         // crasher: what went wrong waiting or removing

	reason string // why the last check did not pass
}

func (c *container) String() string { return fmt.Sprintf("%s %d (%s)", c.kind, c.i, c.path) }

// fleet starts workloads in cgroups from any goroutine: each task is in
// its cgroup from its first instruction (clone3 CLONE_INTO_CGROUP), and
// whatever still runs when the test ends is killed.
type fleet struct {
	cg   *testenv.Cgroups
	mu   sync.Mutex
	cmds []*exec.Cmd
}

func newFleet(t *testing.T, cg *testenv.Cgroups) *fleet {
	f := &fleet{cg: cg}
	// Registered after NewCgroups: runs before the cgroups are removed.
	t.Cleanup(func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		for _, cmd := range f.cmds {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		}
	})
	return f
}

// mkdir creates a kubelet-shaped container cgroup (its pod's slice too)
// and returns its path and id.
func (f *fleet) mkdir(i int) (string, uint64, error) {
	qos := []string{"besteffort", "burstable"}[i%2]
	path, err := f.cg.Mkdir(testenv.KubeletPath(qos, testenv.RandomUID(), testenv.RandomHex(32)))
	if err != nil {
		return "", 0, err
	}
	fi, err := os.Stat(filepath.Join(f.cg.Mount, path))
	if err != nil {
		return "", 0, err
	}
	return path, fi.Sys().(*syscall.Stat_t).Ino, nil
}

// start starts name with args in cgroup path, argv[0] set to argv0.
func (f *fleet) start(path, argv0, name string, args ...string) (*exec.Cmd, error) {
	dir, err := os.Open(filepath.Join(f.cg.Mount, path))
	if err != nil {
		return nil, err
	}
	defer dir.Close() // only clone3 needs it
	cmd := exec.Command(name, args...)
	cmd.Args[0] = argv0
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: int(dir.Fd())}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s in %s: %w", argv0, path, err)
	}
	f.mu.Lock()
	f.cmds = append(f.cmds, cmd)
	f.mu.Unlock()
	return cmd, nil
}

// remove deletes a container cgroup and its pod's slice, as the runtime
// and kubelet do once the container is gone. A task that just died leaves
// its cgroup a moment after wait returns.
func (f *fleet) remove(path string) error {
	for _, p := range []string{path, filepath.Dir(path)} {
		deadline := time.Now().Add(10 * time.Second)
		for {
			err := f.cg.Rmdir(p)
			if err == nil || errors.Is(err, os.ErrNotExist) {
				break
			}
			if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

// stop kills a long-running workload and waits for it.
func stop(cmd *exec.Cmd) {
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

// parallel runs fn(0..n-1) on workers goroutines and returns the errors.
func parallel(n, workers int, fn func(i int) error) []error {
	var (
		next atomic.Int64
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return errs
}

// reportErrors fails the test with (the first few of) errs; fatal ends
// it.
func reportErrors(t *testing.T, what string, errs []error, fatal bool) {
	t.Helper()
	if len(errs) == 0 {
		return
	}
	t.Errorf("%s: %d errors", what, len(errs))
	for i, err := range errs {
		if i == 10 {
			t.Errorf("  ... and %d more", len(errs)-10)
			break
		}
		t.Errorf("  %v", err)
	}
	if fatal {
		t.FailNow()
	}
}

// client is for goroutines other than the test's (testenv's helpers fail
// the test, which only its own goroutine may do).
var client = &http.Client{Timeout: 30 * time.Second}

// get fetches path; a 429 (more dumps at once than --dump.max-concurrent)
// is asked again.
func get(e *testenv.Exporter, path string) (int, []byte, error) {
	for {
		resp, err := client.Get(e.URL + path)
		if err != nil {
			return 0, nil, err
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		return resp.StatusCode, b, err
	}
}

// ringDump is the JSON dump of cgroup path (query adds parameters); ok is
// false, with the reason, when there is none.
func ringDump(e *testenv.Exporter, path, query string) (d dump.RingDump, reason string, ok bool) {
	code, body, err := get(e, "/dump?format=json&cgroup="+url.QueryEscape(path)+query)
	switch {
	case err != nil:
		return d, err.Error(), false
	case code != http.StatusOK:
		msg := strings.ReplaceAll(strings.TrimSpace(string(body)), path, "<its cgroup>")
		return d, fmt.Sprintf("GET /dump: %d %s", code, msg), false
	}
	if err := json.Unmarshal(body, &d); err != nil {
		return d, fmt.Sprintf("decoding dump: %v", err), false
	}
	return d, "", true
}

func index(t *testing.T, e *testenv.Exporter) dump.Index {
	t.Helper()
	var idx dump.Index
	if err := json.Unmarshal([]byte(e.MustGet(t, "/dump?format=json")), &idx); err != nil {
		t.Fatalf("decoding the index: %v", err)
	}
	return idx
}

// scrape is testenv's Scrape for any goroutine.
func scrape(e *testenv.Exporter) (testenv.Metrics, error) {
	code, body, err := get(e, "/metrics")
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %d", code)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	return testenv.Metrics(fams), err
}

// gauge is the value of the series of name with labels want, which must
// be there.
func gauge(t *testing.T, m testenv.Metrics, name string, want map[string]string) float64 {
	t.Helper()
	v, ok := m.Value(t, name, want)
	if !ok {
		t.Fatalf("no %s%v in /metrics", name, labels(want))
	}
	return v
}

// value is the gauge of the first series of name with labels want, 0 if
// there is none: for goroutines other than the test's.
func value(m testenv.Metrics, name string, want map[string]string) float64 {
	if s := m.Find(name, want); len(s) > 0 && s[0].Gauge != nil {
		return s[0].Gauge.GetValue()
	}
	return 0
}

func labels(want map[string]string) string {
	if len(want) == 0 {
		return ""
	}
	var l []string
	for k, v := range want {
		l = append(l, fmt.Sprintf("%s=%q", k, v))
	}
	sort.Strings(l)
	return "{" + strings.Join(l, ",") + "}"
}

// classRings names the metric of the rings by size class:
// flightrec_recorder_rings{class}, or flightrec_recorder_class_rings{class}
// where the rings in use keep a metric of their own.
func classRings(m testenv.Metrics) string {
	if len(m.Find("flightrec_recorder_rings", map[string]string{"class": "small"})) > 0 {
		return "flightrec_recorder_rings"
	}
	return "flightrec_recorder_class_rings"
}

// memory is what the exporter says about its kernel memory and rings.
type memory struct {
	ring, budget              float64
	small, large, spare       float64
	haveClasses               bool
	untracked                 float64
	refused, promoted         float64
	haveRefused, havePromoted bool
}

func readMemory(t *testing.T, m testenv.Metrics) memory {
	t.Helper()
	var mem memory
	mem.ring = gauge(t, m, "flightrec_recorder_ring_memory_bytes", nil)
	mem.budget = gauge(t, m, "flightrec_recorder_memory_budget_bytes", nil)
	mem.untracked = gauge(t, m, "flightrec_recorder_untracked_containers", nil)
	var ok [3]bool
	name := classRings(m)
	mem.small, ok[0] = m.Value(t, name, map[string]string{"class": "small"})
	mem.large, ok[1] = m.Value(t, name, map[string]string{"class": "large"})
	mem.spare, ok[2] = m.Value(t, name, map[string]string{"class": "spare"})
	mem.haveClasses = ok[0] && ok[1] && ok[2]
	mem.refused, mem.haveRefused = m.Value(t, "flightrec_recorder_rings_refused_total", nil)
	mem.promoted, mem.havePromoted = m.Value(t, "flightrec_recorder_ring_promotions_total", nil)
	if !mem.havePromoted {
		mem.promoted, mem.havePromoted = m.Value(t, "flightrec_recorder_rings_promotions_total", nil)
	}
	return mem
}

func (m memory) String() string {
	s := fmt.Sprintf("ring memory %s of a budget of %s; ", mib(m.ring), mib(m.budget))
	if m.haveClasses {
		s += fmt.Sprintf("rings: %v small, %v large, %v spare", m.small, m.large, m.spare)
	} else {
		s += "rings by class: not reported"
	}
	s += fmt.Sprintf("; untracked containers %v", m.untracked)
	if m.haveRefused {
		s += fmt.Sprintf(", refused %v", m.refused)
	}
	if m.havePromoted {
		s += fmt.Sprintf(", promotions %v", m.promoted)
	}
	return s
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }

// rss is the exporter's memory as /proc/PID/status tells it, in bytes.
type rss struct{ vmRSS, vmHWM, anon, file, shmem uint64 }

func readRSS(pid int) (rss, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return rss{}, err
	}
	var r rss
	fields := map[string]*uint64{"VmRSS:": &r.vmRSS, "VmHWM:": &r.vmHWM, "RssAnon:": &r.anon, "RssFile:": &r.file, "RssShmem:": &r.shmem}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 3 && f[2] == "kB" && fields[f[0]] != nil {
			kb, err := strconv.ParseUint(f[1], 10, 64)
			if err != nil {
				return rss{}, fmt.Errorf("/proc/%d/status: %q", pid, line)
			}
			*fields[f[0]] = kb << 10
			delete(fields, f[0])
		}
	}
	if len(fields) > 0 {
		return rss{}, fmt.Errorf("/proc/%d/status lacks %d of the fields", pid, len(fields))
	}
	return r, nil
}

func (r rss) String() string {
	return fmt.Sprintf("VmRSS %s (peak VmHWM %s) = RssAnon %s + RssFile %s + RssShmem %s",
		mib(float64(r.vmRSS)), mib(float64(r.vmHWM)), mib(float64(r.anon)), mib(float64(r.file)), mib(float64(r.shmem)))
}

// checkRSS logs the exporter's memory and fails the test if its own
// anonymous memory is over the limit (the mmapped BPF maps count in
// RssFile and RssShmem, not there).
func checkRSS(t *testing.T, e *testenv.Exporter, when string) rss {
	t.Helper()
	r, err := readRSS(e.PID())
	if err != nil {
		t.Fatalf("exporter memory: %v", err)
	}
	t.Logf("exporter %s: %s", when, r)
	if r.anon > maxRSSAnon {
		t.Errorf("exporter %s: RssAnon %s, want at most %s beyond the kernel maps", when, mib(float64(r.anon)), mib(maxRSSAnon))
	}
	return r
}

// baseline waits until the exporter's ring memory has settled after its
// start (spare rings may be made ready just after) and returns it.
func baseline(t *testing.T, e *testenv.Exporter) memory {
	t.Helper()
	var last memory
	stable := 0
	testenv.WaitFor(t, "the ring memory to settle after start", func() bool {
		cur := readMemory(t, e.Scrape(t))
		if cur.ring == last.ring && cur.spare == last.spare {
			stable++
		} else {
			stable = 0
		}
		last = cur
		return stable >= 4
	})
	return last
}

// checkBudget fails the test if the ring memory is over the default
// budget, or the budget is not the default.
func checkBudget(t *testing.T, mem memory) {
	t.Helper()
	if mem.budget != defaultBudget {
		t.Errorf("memory budget %s, want the default %s", mib(mem.budget), mib(defaultBudget))
	}
	if mem.ring > mem.budget {
		t.Errorf("ring memory %s over the budget of %s", mib(mem.ring), mib(mem.budget))
	}
}

// checkRefused fails the test if rings were refused since base, where the
// exporter counts refusals (flightrec_recorder_rings_refused_total): the
// untracked gauge only shows those still present.
func checkRefused(t *testing.T, e *testenv.Exporter, base memory, when string) {
	t.Helper()
	now := readMemory(t, e.Scrape(t))
	if base.haveRefused && now.haveRefused && now.refused != base.refused {
		t.Errorf("%v containers refused a ring %s, want none", now.refused-base.refused, when)
	}
}

// backToBaseline waits until every ring of the removed containers is
// reclaimed: none in the index, none counted untracked, and the ring
// memory back within memTolerance of what it was at start.
func backToBaseline(t *testing.T, e *testenv.Exporter, base memory) {
	t.Helper()
	start := time.Now()
	var mem memory
	var live int
	ok := poll(pollTimeout, func() bool {
		mem = readMemory(t, e.Scrape(t))
		live = len(index(t, e).Rings)
		return live == 0 && mem.untracked == 0 && mem.ring <= base.ring+memTolerance
	})
	t.Logf("after removal (%s): %s; %d rings in the index",
		time.Since(start).Round(time.Millisecond), mem, live)
	if !ok {
		t.Errorf("%s after every container was removed: ring memory %s, baseline %s (tolerance %s); %d rings still in the index; %v containers still counted untracked",
			pollTimeout, mib(mem.ring), mib(base.ring), mib(memTolerance), live, mem.untracked)
	}
}

// poll checks cond until it holds or timeout passes.
func poll(timeout time.Duration, cond func() bool) bool {
	for deadline := time.Now().Add(timeout); ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// pollAll checks every container with check, on a few goroutines (no more
// than /dump serves at once), until each has passed once or the deadline
// passes; it returns those that never did, each with its last reason.
func pollAll(cs []*container, deadline time.Time, check func(c *container) (string, bool)) []*container {
	pending := cs
	poll(time.Until(deadline), func() bool {
		var mu sync.Mutex
		var still []*container
		parallel(len(pending), 4, func(i int) error {
			c := pending[i]
			reason, ok := check(c)
			if !ok {
				c.reason = reason
				mu.Lock()
				still = append(still, c)
				mu.Unlock()
			}
			return nil
		})
		pending = still
		return len(pending) == 0
	})
	sort.Slice(pending, func(a, b int) bool { return pending[a].i < pending[b].i })
	return pending
}

func reportPending(t *testing.T, what string, total int, pending []*container) {
	t.Helper()
	if len(pending) == 0 {
		return
	}
	t.Errorf("%d of %d %s (polled for up to %s):", len(pending), total, what, pollTimeout)
	for i, c := range pending {
		if i == 10 {
			t.Errorf("  ... and %d more", len(pending)-10)
			break
		}
		t.Errorf("  %s: %s", c, c.reason)
	}
}

// execveOf finds the execve that started the container's workload.
func execveOf(c *container, d dump.RingDump) (dump.Entry, bool) {
	want := strconv.Quote(c.argv0)
	for _, en := range d.Entries {
		if en.Kind == dump.KindSyscall && en.Syscall == "execve" && en.RetText == "0" && strings.Contains(en.Params, want) {
			return en, true
		}
	}
	return dump.Entry{}, false
}

// sameRing says why d is not the ring of c's cgroup.
func sameRing(c *container, d dump.RingDump) (string, bool) {
	if d.CgroupID != c.id {
		return fmt.Sprintf("the dump is of cgroup id %d, want %d", d.CgroupID, c.id), false
	}
	if len(d.Entries) == 0 {
		return "the ring is empty", false
	}
	return "", true
}

// checkSleeper: its ring holds its execve and the sleep it is in.
func checkSleeper(e *testenv.Exporter, c *container) (string, bool) {
	d, reason, ok := ringDump(e, c.path, "")
	if !ok {
		return reason, false
	}
	if reason, ok := sameRing(c, d); !ok {
		return reason, false
	}
	if _, ok := execveOf(c, d); !ok {
		return fmt.Sprintf("no execve of %q among its %d records (%s)", c.argv0, len(d.Entries), firstCalls(d)), false
	}
	for _, en := range d.Entries {
		if strings.HasSuffix(en.Syscall, "nanosleep") && en.PID == uint32(c.cmd.Process.Pid) {
			return "", true
		}
	}
	return fmt.Sprintf("its execve but no nanosleep yet among %d records", len(d.Entries)), false
}

// checkBusy: its ring is written as it is read, with the writes of its
// loop.
func checkBusy(e *testenv.Exporter, c *container) (string, bool) {
	d, reason, ok := ringDump(e, c.path, "&limit=1")
	if !ok {
		return reason, false
	}
	if reason, ok := sameRing(c, d); !ok {
		return reason, false
	}
	before := d.Written
	grew := poll(5*time.Second, func() bool {
		d, reason, ok = ringDump(e, c.path, "&limit=256")
		return !ok || d.Written > before
	})
	switch {
	case !ok:
		return reason, false
	case !grew:
		return fmt.Sprintf("written %d, 5s before %d: not growing", d.Written, before), false
	}
	writes := 0
	for _, en := range d.Entries {
		if en.Syscall == "write" && strings.Contains(en.Params, `"flightrec-`) && en.PID == uint32(c.cmd.Process.Pid) {
			writes++
		}
	}
	if writes < 100 {
		return fmt.Sprintf("%d of the newest %d records are its loop's writes (%s)", writes, len(d.Entries), firstCalls(d)), false
	}
	return "", true
}

// checkCrasher: the frozen ring of its removed cgroup shows its failed
// open and how it ended.
func checkCrasher(e *testenv.Exporter, c *container) (string, bool) {
	select {
	case <-c.exited:
	default:
		return "still running or its cgroup not removed yet", false
	}
	if c.exitErr != nil {
		return c.exitErr.Error(), false
	}
	d, reason, ok := ringDump(e, c.path, "&previous=true")
	if !ok {
		return "previous=true: " + reason, false
	}
	if reason, ok := sameRing(c, d); !ok {
		return "previous=true: " + reason, false
	}
	ended := fmt.Sprintf("exited with %d", c.code)
	if d.FrozenAt == nil || d.Ended != ended {
		return fmt.Sprintf("frozen ring: frozen_at %v, ended %q; want frozen, %q", d.FrozenAt, d.Ended, ended), false
	}
	var open, exit bool
	for _, en := range d.Entries {
		if en.Syscall == "openat" && strings.Contains(en.Params, strconv.Quote(c.file)) && en.RetText == "-2 ENOENT" {
			open = true
		}
		if open && en.Kind == dump.KindExit && en.PID == uint32(c.cmd.Process.Pid) && en.ExitCode != nil && *en.ExitCode == c.code {
			exit = true
		}
	}
	if !open || !exit {
		return fmt.Sprintf("frozen ring of %d records: failed open of %s %v, then exit with %d %v (%s)",
			len(d.Entries), c.file, open, c.code, exit, firstCalls(d)), false
	}
	return "", true
}

// firstCalls names the first few syscalls of a dump, for messages.
func firstCalls(d dump.RingDump) string {
	var s []string
	for i, en := range d.Entries {
		if i == 8 {
			s = append(s, "…")
			break
		}
		s = append(s, en.Syscall)
	}
	return strings.Join(s, " ")
}

// TestFullNodeEveryCgroupRecorded starts a node's worth of containers at
// once, as fast as a few goroutines can: idle ones, ones that crash at
// once and busy ones. Each must get a ring of its own from its first
// syscall (no container untracked), within the kernel memory budget, with
// the exporter's own memory small; when they are gone, so is their
// memory.
func TestFullNodeEveryCgroupRecorded(t *testing.T) {
	testenv.RequireRoot(t)
	total := sleepers + crashers + busy
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent)
	workload := testenv.Build(t, "./test/workload")
	base := baseline(t, e)
	t.Logf("at start: %s", base)
	checkRSS(t, e, "at start")
	f := newFleet(t, cg)
	missing := "/nonexistent/flightrec-fullnode-" + testenv.RandomHex(4)

	// Crashers and busy ones spread among the idle ones, so that they
	// start while the others do.
	cs := make([]*container, total)
	nCrash, nBusy := 0, 0
	for i := range cs {
		c := &container{i: i}
		switch {
		case nCrash < crashers && i >= nCrash*total/crashers:
			c.kind, c.argv0, c.code = "crasher", fmt.Sprintf("fullnode-crasher-%03d", nCrash), 1+nCrash%100
			c.file = fmt.Sprintf("%s/crasher-%03d", missing, nCrash)
			c.exited = make(chan struct{})
			nCrash++
		case nBusy < busy && i >= nBusy*total/busy+total/(2*busy):
			c.kind, c.argv0 = "busy", fmt.Sprintf("fullnode-busy-%03d", nBusy)
			nBusy++
		default:
			c.kind, c.argv0 = "sleeper", fmt.Sprintf("fullnode-sleeper-%03d", i)
		}
		cs[i] = c
	}
	count := map[string]int{}
	for _, c := range cs {
		count[c.kind]++
	}
	if count["crasher"] != crashers || count["busy"] != busy || count["sleeper"] != sleepers {
		t.Fatalf("the test's own mix is wrong: %v", count)
	}

	began := time.Now()
	pace := time.NewTicker(time.Second / startRate)
	defer pace.Stop()
	errs := parallel(total, startWorkers, func(i int) error {
		c := cs[i]
		var err error
		<-pace.C
		if c.path, c.id, err = f.mkdir(i); err != nil {
			return err
		}
		switch c.kind {
		case "sleeper":
			c.cmd, err = f.start(c.path, c.argv0, sleepBin, "3600")
		case "busy":
			c.cmd, err = f.start(c.path, c.argv0, workload, "write-pattern", "0")
			if err == nil {
				// Busy, but not at the expense of the rest of the test on
				// a small machine: it runs whenever a CPU is free.
				err = syscall.Setpriority(syscall.PRIO_PROCESS, c.cmd.Process.Pid, 19)
			}
		case "crasher":
			script := fmt.Sprintf("true < %s; exit %d", c.file, c.code)
			if c.cmd, err = f.start(c.path, c.argv0, shBin, "-c", script); err != nil {
				return err
			}
			// The runtime removes a container's cgroup once it is gone.
			go func() {
				defer close(c.exited)
				var exit *exec.ExitError
				if err := c.cmd.Wait(); !errors.As(err, &exit) || exit.ExitCode() != c.code {
					c.exitErr = fmt.Errorf("the crasher ended with %v, want exit status %d", err, c.code)
					return
				}
				c.exitErr = f.remove(c.path)
			}()
		}
		return err
	})
	reportErrors(t, "starting containers", errs, true)
	started := time.Since(began)
	t.Logf("started %d containers (%d idle, %d crashing, %d busy) in %s, %d at a time, at most %d a second",
		total, sleepers, crashers, busy, started.Round(time.Millisecond), startWorkers, startRate)

	checkBegan := time.Now()
	deadline := checkBegan.Add(pollTimeout)
	byKind := func(kind string) []*container {
		var out []*container
		for _, c := range cs {
			if c.kind == kind {
				out = append(out, c)
			}
		}
		return out
	}
	reportPending(t, "idle containers have no ring with their execve and sleep",
		sleepers, pollAll(byKind("sleeper"), deadline, func(c *container) (string, bool) { return checkSleeper(e, c) }))
	reportPending(t, "busy containers have no ring with their recent writes",
		busy, pollAll(byKind("busy"), deadline, func(c *container) (string, bool) { return checkBusy(e, c) }))
	reportPending(t, "crashed containers have no frozen ring with their failed open and exit code",
		crashers, pollAll(byKind("crasher"), deadline, func(c *container) (string, bool) { return checkCrasher(e, c) }))
	t.Logf("checked the dumps of all %d containers in %s", total, time.Since(checkBegan).Round(time.Millisecond))

	m := e.Scrape(t)
	full := readMemory(t, m)
	t.Logf("with %d containers live: %s", sleepers+busy, full)
	checkBudget(t, full)
	if full.untracked != 0 {
		t.Errorf("%v containers untracked (refused a ring), want 0", full.untracked)
	}
	checkRefused(t, e, base, "while they started")
	idx := index(t, e)
	t.Logf("index: %d rings, %d frozen, untracked %d", len(idx.Rings), len(idx.Frozen), idx.UntrackedCgroups)
	if idx.UntrackedCgroups != 0 {
		t.Errorf("the index counts %d untracked cgroups, want 0", idx.UntrackedCgroups)
	}
	var busyRecords []string
	for _, c := range byKind("busy") {
		if d, _, ok := ringDump(e, c.path, "&limit=1"); ok {
			busyRecords = append(busyRecords, fmt.Sprintf("%d/%d", d.Records, d.Written))
		}
	}
	t.Logf("busy rings, records held/written: %s", strings.Join(busyRecords, " "))
	checkRSS(t, e, "with every container live")

	// The node drains: every container killed, its cgroup removed.
	drainBegan := time.Now()
	errs = parallel(total, startWorkers, func(i int) error {
		c := cs[i]
		if c.kind == "crasher" {
			<-c.exited
			return nil // removed already
		}
		stop(c.cmd)
		return f.remove(c.path)
	})
	reportErrors(t, "removing containers", errs, true)
	t.Logf("removed %d containers in %s", total, time.Since(drainBegan).Round(time.Millisecond))
	backToBaseline(t, e, base)
	checkRSS(t, e, "after every container was removed")
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// TestChurnKeepsLiveRings runs thousands of short-lived containers, a few
// at a time, beside a set of long-lived ones. The long-lived ones keep
// their rings, and their rings keep their own first records and nothing
// of anyone else's; no container is refused a ring; once the short-lived
// ones are gone nothing of theirs is left, and once the long-lived ones
// are gone too the memory is back where it started.
func TestChurnKeepsLiveRings(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent)
	base := baseline(t, e)
	t.Logf("at start: %s", base)
	f := newFleet(t, cg)
	began := time.Now()

	live := make([]*container, longLived)
	errs := parallel(longLived, startWorkers, func(i int) error {
		c := &container{kind: "long-lived", i: i, argv0: fmt.Sprintf("fullnode-longlived-%02d", i)}
		live[i] = c
		var err error
		if c.path, c.id, err = f.mkdir(i); err != nil {
			return err
		}
		c.cmd, err = f.start(c.path, c.argv0, sleepBin, "3600")
		return err
	})
	reportErrors(t, "starting the long-lived containers", errs, true)
	// Those that have no ring fail the test; the churn goes on with the
	// others.
	noRing := pollAll(live, time.Now().Add(pollTimeout), func(c *container) (string, bool) { return checkSleeper(e, c) })
	reportPending(t, "long-lived containers have no ring with their execve and sleep", longLived, noRing)
	// Their first records, to find again after the churn.
	first := map[*container]uint64{}
	for _, c := range live {
		d, _, ok := ringDump(e, c.path, "")
		if en, found := execveOf(c, d); ok && found {
			first[c] = en.Seq
		}
	}
	if len(first) == 0 {
		t.FailNow()
	}

	// The churn, watched: the peaks of ring memory, rings and the
	// exporter's own memory while it lasts.
	var (
		peakMu   sync.Mutex
		peakMem  memory
		peakAnon uint64
		watchErr error
		samples  int
	)
	watchDone, watchStop := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			m, err := scrape(e)
			r, rerr := readRSS(e.PID())
			peakMu.Lock()
			switch {
			case err != nil:
				watchErr = err
			case rerr != nil:
				watchErr = rerr
			default:
				samples++
				ring := value(m, "flightrec_recorder_ring_memory_bytes", nil)
				small := value(m, classRings(m), map[string]string{"class": "small"})
				large := value(m, classRings(m), map[string]string{"class": "large"})
				untracked := value(m, "flightrec_recorder_untracked_containers", nil)
				peakMem.ring = max(peakMem.ring, ring)
				peakMem.small = max(peakMem.small, small)
				peakMem.large = max(peakMem.large, large)
				peakMem.untracked = max(peakMem.untracked, untracked)
				peakAnon = max(peakAnon, r.anon)
			}
			peakMu.Unlock()
			select {
			case <-watchStop:
				return
			case <-tick.C:
			}
		}
	}()

	// Every 10th short-lived container is checked before its cgroup goes:
	// it had a ring of its own, with its story.
	missing := "/nonexistent/flightrec-churn-" + testenv.RandomHex(4)
	var sampled atomic.Int64
	churnBegan := time.Now()
	errs = parallel(churned, churnWorkers, func(i int) error {
		path, id, err := f.mkdir(i)
		if err != nil {
			return err
		}
		file := fmt.Sprintf("%s/%04d", missing, i)
		code := i % 3
		out, got, err := cg.Exec(path, nil, shBin, "-c", fmt.Sprintf("true < %s; exit %d", file, code))
		if err != nil {
			return err
		}
		if got != code {
			return fmt.Errorf("short-lived container %d: exit %d, want %d: %s", i, got, code, out)
		}
		if i%10 == 0 {
			c := &container{kind: "short-lived", i: i, path: path, id: id}
			d, reason, ok := ringDump(e, path, "")
			if ok {
				reason, ok = sameRing(c, d)
			}
			if !ok {
				return fmt.Errorf("%s: %s", c, reason)
			}
			var open, exit bool
			for _, en := range d.Entries {
				open = open || en.Syscall == "openat" && strings.Contains(en.Params, strconv.Quote(file)) && en.RetText == "-2 ENOENT"
				exit = exit || open && en.Kind == dump.KindExit && en.ExitCode != nil && *en.ExitCode == code
			}
			if !open || !exit {
				return fmt.Errorf("%s: its ring of %d records: failed open of %s %v, then exit with %d %v (%s)",
					c, len(d.Entries), file, open, code, exit, firstCalls(d))
			}
			sampled.Add(1)
		}
		return f.remove(path)
	})
	churnTook := time.Since(churnBegan)
	close(watchStop)
	<-watchDone
	t.Logf("churn: %d short-lived containers in %s (%.0f/s), %d at a time; %d of them checked in their dumps",
		churned, churnTook.Round(time.Millisecond), churned/churnTook.Seconds(), churnWorkers, sampled.Load())
	if watchErr != nil {
		t.Errorf("watching the churn: %v", watchErr)
	}
	t.Logf("peaks over %d samples during the churn: ring memory %s, %v small rings, %v large, %v untracked; exporter RssAnon %s",
		samples, mib(peakMem.ring), peakMem.small, peakMem.large, peakMem.untracked, mib(float64(peakAnon)))
	if peakMem.untracked != 0 {
		t.Errorf("up to %v containers untracked during the churn, want none", peakMem.untracked)
	}
	checkRefused(t, e, base, "during the churn")
	if peakMem.ring > defaultBudget {
		t.Errorf("ring memory up to %s during the churn, over the budget of %s", mib(peakMem.ring), mib(defaultBudget))
	}
	if peakAnon > maxRSSAnon {
		t.Errorf("exporter RssAnon up to %s during the churn, want at most %s", mib(float64(peakAnon)), mib(maxRSSAnon))
	}
	reportErrors(t, "churn", errs, false)

	// The long-lived ones: their own rings, still beginning with their own
	// first records, and nothing of another container's.
	for _, c := range live {
		if _, had := first[c]; !had {
			continue // reported
		}
		d, reason, ok := ringDump(e, c.path, "")
		if ok {
			reason, ok = sameRing(c, d)
		}
		if !ok {
			t.Errorf("%s after the churn: %s", c, reason)
			continue
		}
		en, ok := execveOf(c, d)
		if !ok || en.Seq != first[c] {
			t.Errorf("%s after the churn: its execve (seq %d before) is %v at seq %d (%s)", c, first[c], ok, en.Seq, firstCalls(d))
		}
		for _, en := range d.Entries {
			if en.PID != uint32(c.cmd.Process.Pid) || strings.Contains(en.Params, missing) {
				t.Errorf("%s after the churn: a record not of its own: pid %d %s(%s)", c, en.PID, en.Syscall, en.Params)
				break
			}
		}
	}
	m := e.Scrape(t)
	after := readMemory(t, m)
	t.Logf("after the churn: %s", after)
	checkBudget(t, after)
	if after.untracked != 0 {
		t.Errorf("%v containers untracked after the churn, want 0", after.untracked)
	}
	checkRSS(t, e, "after the churn")

	// Once reclaimed, the index lists the long-lived ones (that have a
	// ring) and nothing else.
	want := map[string]bool{}
	for c := range first {
		want[c.path] = true
	}
	var extra []string
	var idx dump.Index
	reclaimed := poll(pollTimeout, func() bool {
		idx = index(t, e)
		extra = nil
		seen := 0
		for _, r := range idx.Rings {
			if want[r.Cgroup] && r.Live {
				seen++
			} else {
				extra = append(extra, r.Cgroup)
			}
		}
		return len(extra) == 0 && seen == len(want)
	})
	t.Logf("index after the churn: %d rings, %d frozen, %d untracked", len(idx.Rings), len(idx.Frozen), idx.UntrackedCgroups)
	if !reclaimed {
		sort.Strings(extra)
		t.Errorf("index %s after the churn: %d rings, want the %d long-lived ones that have one; %d others: %.10q",
			pollTimeout, len(idx.Rings), len(want), len(extra), extra)
	}
	if idx.UntrackedCgroups != longLived-len(first) {
		t.Errorf("index after the churn: %d untracked cgroups, want %d (long-lived ones without a ring)", idx.UntrackedCgroups, longLived-len(first))
	}

	errs = parallel(longLived, startWorkers, func(i int) error {
		stop(live[i].cmd)
		return f.remove(live[i].path)
	})
	reportErrors(t, "removing the long-lived containers", errs, true)
	backToBaseline(t, e, base)
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}

// An idle node with ten containers: every one recorded, in at most 32 MiB
// of kernel memory for the rings (issue 15), spares and metadata included.
func TestIdleNodeWithTenContainers(t *testing.T) {
	testenv.RequireRoot(t)
	const containers, limit = 10, 32 << 20
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent)
	f := newFleet(t, cg)
	cs := make([]*container, containers)
	for i := range cs {
		c := &container{kind: "sleeper", i: i, argv0: fmt.Sprintf("idle-%d-%s", i, testenv.RandomHex(3))}
		var err error
		if c.path, c.id, err = f.mkdir(i); err != nil {
			t.Fatal(err)
		}
		if c.cmd, err = f.start(c.path, c.argv0, sleepBin, "3600"); err != nil {
			t.Fatal(err)
		}
		cs[i] = c
	}
	reportPending(t, "idle containers have no ring with their execve and sleep", containers,
		pollAll(cs, time.Now().Add(pollTimeout), func(c *container) (string, bool) { return checkSleeper(e, c) }))
	mem := baseline(t, e)
	t.Logf("idle node with %d containers: %s", containers, mem)
	if mem.ring > limit {
		t.Errorf("ring memory %s with %d idle containers, want at most %s", mib(mem.ring), containers, mib(limit))
	}
	checkRSS(t, e, "with ten idle containers")
}
