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
	// Preallocated maps hold their memory from creation on.
	for _, name := range []string{"containers", "free_slots", "last_enter", "sc_confs", "stats", "self",
		"errors", "latencies", "scratch"} {
		mem(name)
	}
	// The ring buffer and the task storage (allocated per thread) report
	// memlock 0 in fdinfo on 6.1, found by the kernel matrix: reported,
	// whatever the value.
	for _, name := range []string{"cgroup_events", "inflight"} {
		if _, ok := m.Value(t, "flightrec_recorder_map_memory_bytes", map[string]string{"map": name}); !ok {
			t.Errorf("map %s: memory not reported", name)
		}
	}
	rings, ok := m.Value(t, "flightrec_recorder_ring_memory_bytes", nil)
	if want := mem("records") + mem("rings"); !ok || rings != want {
		t.Errorf("ring memory %v, want records + rings = %v", rings, want)
	}
}
