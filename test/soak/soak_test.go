// Package soak_test churns through thousands of containers and runs the
// exporter under load for minutes, checking that its kernel maps and its
// own memory come back to where they started. Needs root; skipped by -short.
package soak_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"sync"
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

func gauge(t *testing.T, m testenv.Metrics, name string, labels map[string]string) float64 {
	t.Helper()
	v, ok := m.Value(t, name, labels)
	if !ok {
		t.Fatalf("no %s%v", name, labels)
	}
	return v
}

// state is what must return to its baseline after churn.
type state struct {
	rings, untracked, errorSeries, latencySeries, known, frozen, goroutines float64
}

func snapshot(t *testing.T, e *testenv.Exporter) state {
	m := e.Scrape(t)
	return state{
		rings:         gauge(t, m, "flightrec_recorder_rings", nil),
		untracked:     gauge(t, m, "flightrec_recorder_untracked_containers", nil),
		errorSeries:   gauge(t, m, "flightrec_recorder_map_entries", map[string]string{"map": "errors"}),
		latencySeries: gauge(t, m, "flightrec_recorder_map_entries", map[string]string{"map": "latencies"}),
		known:         gauge(t, m, "flightrec_recorder_known_cgroups", nil),
		frozen:        gauge(t, m, "flightrec_dump_frozen_rings", nil),
		goroutines:    gauge(t, m, "go_goroutines", nil),
	}
}

func TestChurnOf2000ContainersLeavesNoState(t *testing.T) {
	if testing.Short() {
		t.Skip("churn test skipped in -short mode")
	}
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--collector.grace-period=1s",
		"--recorder.reclaim-interval=200ms", "--dump.max-frozen=20", "--recorder.max-containers=64")
	base := snapshot(t, e)
	workload := testenv.Build(t, "./test/workload")
	const n = 2000
	for i := 0; i < n; i++ {
		c := cg.Make(t, fmt.Sprintf("/churn-%d.scope", i))
		// A failing open (an error series) and a futex wake (a latency series).
		if out, code := cg.Run(t, c, nil, workload, "openat-missing", "2"); code != 0 {
			t.Fatalf("container %d: %s", i, out)
		}
		cg.Remove(t, c)
	}
	m := e.Scrape(t)
	if assigned := gauge(t, m, "flightrec_recorder_rings_assigned_total", nil); assigned < n/2 {
		t.Fatalf("only %v rings assigned for %d containers", assigned, n)
	}
	var now state
	for deadline := time.Now().Add(60 * time.Second); ; {
		now = snapshot(t, e)
		if now.rings == base.rings && now.untracked == base.untracked && now.errorSeries == base.errorSeries &&
			now.latencySeries == base.latencySeries && now.known == base.known && now.frozen <= 20 &&
			now.goroutines <= base.goroutines+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("state did not return to its baseline after %d containers:\nbefore %+v\nafter  %+v", n, base, now)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("baseline %+v, after churn %+v", base, now)
}

func soakDuration() time.Duration {
	if s := os.Getenv("FLIGHTREC_SOAK"); s != "" {
		if d, err := time.ParseDuration(s); err == nil {
			return d
		}
	}
	return 2 * time.Minute
}

func TestSoakUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("soak test skipped in -short mode")
	}
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--dump.max-concurrent=8")
	workload := testenv.Build(t, "./test/workload")
	var heavy []string
	for i := 0; i < 2; i++ {
		c := cg.Make(t, fmt.Sprintf("/heavy-%d.scope", i))
		heavy = append(heavy, c)
		cmd := cg.Command(t, c, workload, "write-pattern", "0")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	}
	var (
		mu       sync.Mutex
		tornSeen uint64
		dumps    int
	)
	load := func(stop <-chan struct{}, wg *sync.WaitGroup, every time.Duration, fn func()) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				fn()
			}
		}
	}
	run := func(d time.Duration) {
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(3)
		go load(stop, &wg, 100*time.Millisecond, func() { e.Scrape(t) })
		for i := range 2 {
			go load(stop, &wg, 150*time.Millisecond, func() {
				code, body := e.Get(t, "/dump?format=json&cgroup="+url.QueryEscape(heavy[i]))
				if code != 200 {
					t.Errorf("dump: %d %.200s", code, body)
					return
				}
				var d dump.RingDump
				if err := json.Unmarshal([]byte(body), &d); err != nil {
					t.Errorf("dump: %v", err)
					return
				}
				mu.Lock()
				tornSeen += d.Torn
				dumps++
				mu.Unlock()
			})
		}
		time.Sleep(d)
		close(stop)
		wg.Wait()
	}
	total := soakDuration()
	run(total / 4) // warm up: buffers and caches reach their working size
	m := e.Scrape(t)
	rss0, gor0 := gauge(t, m, "process_resident_memory_bytes", nil), gauge(t, m, "go_goroutines", nil)
	run(total * 3 / 4)
	m = e.Scrape(t)
	rss1, gor1 := gauge(t, m, "process_resident_memory_bytes", nil), gauge(t, m, "go_goroutines", nil)
	t.Logf("%d dumps; RSS %.1f → %.1f MiB; goroutines %v → %v", dumps, rss0/(1<<20), rss1/(1<<20), gor0, gor1)
	if rss1 > rss0*1.25+16<<20 {
		t.Errorf("RSS grew from %.1f to %.1f MiB under steady load", rss0/(1<<20), rss1/(1<<20))
	}
	if gor1 > gor0+3 {
		t.Errorf("goroutines grew from %v to %v", gor0, gor1)
	}
	// Every record a dump dropped is counted, and nothing else was dropped.
	if torn := gauge(t, m, "flightrec_recorder_records_torn_total", nil); uint64(torn) != tornSeen {
		t.Errorf("flightrec_recorder_records_torn_total = %v, dumps reported %d", torn, tornSeen)
	}
	if misses := m.Find("flightrec_recorder_program_recursion_misses_total", nil); len(misses) == 0 {
		t.Error("no recursion-miss counters")
	}
}
