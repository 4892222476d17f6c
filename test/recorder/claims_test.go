package recorder_test

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func seqs(entries []dump.Entry) []uint64 {
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

func sameSeqs(a, b []dump.Entry) bool {
	x, y := seqs(a), seqs(b)
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

func TestDumpFilterSemantics(t *testing.T) {
	cg, e, container := setup(t)
	// A failed open, a pause, another failed open, then death by a signal.
	_, code := cg.Run(t, container, nil, "/bin/sh", "-c", "cat /nonexistent/a; sleep 0.3; cat /nonexistent/b; kill -SEGV $$")
	if code != -1 {
		t.Fatalf("workload exit %d, want death by SIGSEGV", code)
	}
	all := dumpJSON(t, e, container, "").Entries
	if len(all) < 20 {
		t.Fatalf("only %d records:\n%s", len(all), render(all))
	}

	// limit=N: the newest N, in order.
	for _, n := range []int{1, 5, len(all) - 1, len(all) + 10} {
		got := dumpJSON(t, e, container, "&limit="+strconv.Itoa(n)).Entries
		want := all[max(0, len(all)-n):]
		if !sameSeqs(got, want) {
			t.Errorf("limit=%d: seqs %v, want the newest %v", n, seqs(got), seqs(want))
		}
	}

	// since=T: exactly the records that started at or after T. T lies in
	// the pause, far from any record.
	gap, at := time.Duration(0), -1
	for i := 1; i < len(all); i++ {
		if d := all[i].Time.Sub(all[i-1].Time); d > gap {
			gap, at = d, i
		}
	}
	if gap < 200*time.Millisecond {
		t.Fatalf("no pause between records (largest gap %s)", gap)
	}
	since := all[at-1].Time.Add(gap / 2)
	got := dumpJSON(t, e, container, "&since="+url.QueryEscape(since.Format(time.RFC3339Nano))).Entries
	if !sameSeqs(got, all[at:]) {
		t.Errorf("since=%s: %d records from seq %v, want the %d after the pause", since.Format(time.RFC3339Nano), len(got), seqs(got)[:min(3, len(got))], len(all)-at)
	}
	if got := dumpJSON(t, e, container, "&since=1h").Entries; !sameSeqs(got, all) {
		t.Errorf("since=1h: %d records, want all %d", len(got), len(all))
	}

	// failed=true: failed syscalls, and every signal and exit; nothing else.
	failed := dumpJSON(t, e, container, "&failed=true").Entries
	var want []dump.Entry
	for _, en := range all {
		if en.Kind != dump.KindSyscall || en.Failed() {
			want = append(want, en)
		}
	}
	if !sameSeqs(failed, want) {
		t.Errorf("failed=true:\n%s\nwant:\n%s", render(failed), render(want))
	}
	kinds := map[string]int{}
	for _, en := range failed {
		kinds[en.Kind]++
		if en.Kind == dump.KindSyscall && en.Syscall == "openat" && strings.Contains(en.Params, "/nonexistent/") && en.Errno == "ENOENT" {
			kinds["enoent"]++
		}
	}
	if kinds["enoent"] != 2 || kinds[dump.KindSignal] == 0 || kinds[dump.KindExit] < 3 {
		t.Errorf("failed=true holds %v: want both ENOENT opens, the SIGSEGV and the exits of cat, sleep, cat and sh", kinds)
	}
	// Filters combine: the newest failed open.
	var lastFailedOpen []dump.Entry
	for i := len(all) - 1; i >= 0 && lastFailedOpen == nil; i-- {
		if all[i].Kind == dump.KindSyscall && all[i].Syscall == "openat" && all[i].Failed() {
			lastFailedOpen = all[i : i+1]
		}
	}
	if got := dumpJSON(t, e, container, "&failed=true&syscall=openat&limit=1").Entries; !sameSeqs(got, lastFailedOpen) {
		t.Errorf("failed=true&syscall=openat&limit=1:\n%s\nwant:\n%s", render(got), render(lastFailedOpen))
	}
}

func TestFrozenRingsBoundedByRetentionAndBytes(t *testing.T) {
	cg := testenv.NewCgroups(t)
	frozen := func(e *testenv.Exporter, c string) int {
		code, _ := e.Get(t, "/dump?previous=true&cgroup="+url.QueryEscape(c))
		return code
	}
	// run runs /bin/true in a fresh cgroup and removes it.
	run := func(path string) string {
		c := cg.Make(t, path)
		if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
			t.Fatal("true failed")
		}
		cg.Remove(t, c)
		return c
	}
	common := []string{"--recorder.cgroup-parent=" + cg.Parent, "--recorder.reclaim-interval=100ms"}

	t.Run("retention", func(t *testing.T) {
		e := testenv.StartExporter(t, append(common, "--dump.retention=2s")...)
		c := run("/retention.scope")
		var prev dump.RingDump
		testenv.WaitFor(t, "the frozen ring", func() bool {
			code, body := e.Get(t, "/dump?format=json&previous=true&cgroup="+url.QueryEscape(c))
			return code == 200 && json.Unmarshal([]byte(body), &prev) == nil && prev.FrozenAt != nil
		})
		// Judged by the exporter's own frozen_at, not by when this test
		// saw the ring (a slow guest answers a dump in a second): a 404
		// to a request sent before frozen_at + 2 s is an early drop.
		var asked time.Time
		testenv.WaitFor(t, "the retention to drop it", func() bool {
			asked = time.Now()
			return frozen(e, c) == 404
		})
		if early := prev.FrozenAt.Add(2 * time.Second).Sub(asked); early > 50*time.Millisecond {
			t.Errorf("dropped %s before the 2s retention ended (frozen at %s, gone when asked at %s)", early, prev.FrozenAt, asked)
		}
		if v, _ := e.Scrape(t).Value(t, "flightrec_dump_frozen_evicted_total", nil); v != 1 {
			t.Errorf("frozen_evicted_total = %v, want 1", v)
		}
	})

	t.Run("max-frozen-bytes", func(t *testing.T) {
		// The size of one frozen /bin/true, as the store estimates it.
		probe := testenv.StartExporter(t, common...)
		c := run("/probe.scope")
		testenv.WaitFor(t, "the frozen ring", func() bool { return frozen(probe, c) == 200 })
		one, _ := probe.Scrape(t).Value(t, "flightrec_dump_frozen_bytes", nil)
		probe.Stop()
		if one <= 0 {
			t.Fatalf("frozen_bytes %v for one ring", one)
		}
		limit := int64(one * 1.5) // room for one such ring, not two
		e := testenv.StartExporter(t, append(common, "--dump.max-frozen-bytes="+strconv.FormatInt(limit, 10))...)
		first := run("/first.scope")
		testenv.WaitFor(t, "the first frozen ring", func() bool { return frozen(e, first) == 200 })
		second := run("/second.scope")
		testenv.WaitFor(t, "the second frozen ring", func() bool { return frozen(e, second) == 200 })
		if code := frozen(e, first); code != 404 {
			t.Errorf("the oldest frozen ring answered %d, want 404: evicted for the bytes bound", code)
		}
		m := e.Scrape(t)
		if v, _ := m.Value(t, "flightrec_dump_frozen_bytes", nil); v > float64(limit) {
			t.Errorf("frozen_bytes %v above --dump.max-frozen-bytes=%d", v, limit)
		}
		if v, _ := m.Value(t, "flightrec_dump_frozen_evicted_total", nil); v != 1 {
			t.Errorf("frozen_evicted_total = %v, want 1", v)
		}
	})
}
