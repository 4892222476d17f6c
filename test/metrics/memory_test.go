package metrics_test

import "testing"

// Every map's kernel memory is reported, and the rings' memory is that of
// their metadata and of the ring maps made.
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
	// The rings' memory is their metadata's and that of the ring maps made
	// (one ring of each class its size, spares included), as the kernel
	// accounts them; the budget bounds it.
	value := func(name string, labels map[string]string) float64 {
		got, ok := m.Value(t, name, labels)
		if !ok {
			t.Fatalf("%s%v not reported", name, labels)
		}
		return got
	}
	class := func(c string) map[string]string { return map[string]string{"class": c} }
	rings := value("flightrec_recorder_ring_memory_bytes", nil)
	want := mem("rings") +
		(value("flightrec_recorder_class_rings", class("small"))+value("flightrec_recorder_class_rings", class("spare")))*
			value("flightrec_recorder_class_ring_bytes", class("small")) +
		value("flightrec_recorder_class_rings", class("large"))*value("flightrec_recorder_class_ring_bytes", class("large"))
	if rings != want {
		t.Errorf("ring memory %v, want the metadata and the rings of each class: %v", rings, want)
	}
	if spare := value("flightrec_recorder_class_rings", class("spare")); spare < 1 {
		t.Errorf("%v spare rings, want some ready for new containers", spare)
	}
	if budget := value("flightrec_recorder_memory_budget_bytes", nil); rings > budget {
		t.Errorf("ring memory %v over the budget of %v", rings, budget)
	}
}
