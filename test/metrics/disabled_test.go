package metrics_test

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A disabled collector costs nothing in the kernel: with the errors and
// syscalls collectors off, failures and watched calls are neither counted
// nor given a counter, while the ring still records them.
func TestDisabledCollectorsCountNothingInTheKernel(t *testing.T) {
	v := setup(t, "--no-collector.errors", "--no-collector.syscalls")
	c := v.container(t)
	const n = 20
	if out, code := v.cg.Run(t, c, nil, v.workload, "openat-missing", strconv.Itoa(n)); code != 0 {
		t.Fatalf("workload: exit %d: %s", code, out)
	}
	v.run(t, c, nil, "fsync", filepath.Join(t.TempDir(), "f"), "3")
	m := v.e.Scrape(t)
	for _, mapName := range []string{"errors", "latencies"} {
		labels := map[string]string{"map": mapName}
		if got, _ := m.Value(t, "flightrec_recorder_map_entries", labels); got != 0 {
			t.Errorf("%s map has %v entries with its collector off, want 0", mapName, got)
		}
		if got, _ := m.Value(t, "flightrec_recorder_map_max_entries", labels); got > 1 {
			t.Errorf("%s map sized for %v entries with its collector off", mapName, got)
		}
	}
	if dump := v.e.MustGet(t, "/dump?failed=true&cgroup="+c); strings.Count(dump, "ENOENT") < n {
		t.Errorf("the ring lost the failures:\n%s", dump)
	}
}
