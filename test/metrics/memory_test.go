package metrics_test

import "testing"

// Every map's kernel memory is reported, and the rings' memory is that of
// the records and ring metadata maps.
func TestMapMemoryOfEveryMap(t *testing.T) {
	v := setup(t)
	m := v.e.Scrape(t)
	mem := func(name string) float64 {
		got, ok := m.Value(t, "flightrec_recorder_map_memory_bytes", map[string]string{"map": name})
		if !ok || got <= 0 {
			t.Errorf("map %s: memory %v (reported: %v), want > 0", name, got, ok)
		}
		return got
	}
	for _, name := range []string{"containers", "free_slots", "inflight", "last_enter", "sc_confs", "stats", "self",
		"errors", "latencies", "scratch"} {
		mem(name)
	}
	// The ring buffer's memlock in fdinfo is 0 on 6.1 (found by the kernel
	// matrix; 6.12 and 6.18 report it): reported, whatever its value.
	if _, ok := m.Value(t, "flightrec_recorder_map_memory_bytes", map[string]string{"map": "cgroup_events"}); !ok {
		t.Error("map cgroup_events: memory not reported")
	}
	rings, ok := m.Value(t, "flightrec_recorder_ring_memory_bytes", nil)
	if want := mem("records") + mem("rings"); !ok || rings != want {
		t.Errorf("ring memory %v, want records + rings = %v", rings, want)
	}
}
