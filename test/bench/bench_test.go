package main

import (
	"github.com/flightrec/flightrec_exporter/internal/testenv"

	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs the whole harness with tiny workloads and checks that
// the report has a row with positive numbers for every mode and workload.
// It asserts nothing about performance.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the smoke test builds and runs the exporter")
	}
	testenv.RequireRoot(t)
	if testenv.Strict() {
		// The harness falls back without them; CI must measure with them.
		for _, tool := range []string{"strace", "redis-server", "redis-benchmark"} {
			testenv.RequireTool(t, tool, "the benchmark compares against it")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "report.md")
	cfg := config{rounds: 1, quick: true, out: out, sizes: quickSizes, progress: testWriter{t}}
	var buf bytes.Buffer
	if err := run(ctx, cfg, &buf); err != nil {
		t.Fatalf("benchmark: %v", err)
	}
	report := buf.String()
	t.Log("\n" + report)
	if file, err := os.ReadFile(out); err != nil || string(file) != report {
		t.Errorf("-out file differs from stdout (read error %v)", err)
	}

	modes := []string{"none", "floor (empty tp_btf)", "exporter (capture 64 B)", "exporter (capture 0)", "exporter (incidents off)", "strace -f"}
	essentials := "essentials (scope, 2 clock reads, payload copy)"
	for _, wl := range microWorkloads {
		for _, pl := range wl.placements() {
			sec := section(t, report, "### "+wl.title+" — "+placementTitle(pl))
			for _, m := range allModes {
				if wl.measures(m) {
					checkRow(t, sec, m.label)
				}
			}
		}
	}
	inc := section(t, report, "## Incidents: on and off")
	for _, m := range notableModes {
		checkRow(t, inc, m.label)
	}
	var real string
	switch {
	case strings.Contains(report, "## Realistic: redis"):
		real = section(t, report, "## Realistic: redis")
	default:
		real = section(t, report, "## Realistic: tar")
	}
	for _, m := range modes {
		checkRow(t, real, m)
	}
	if strings.Contains(real, essentials) {
		t.Errorf("the essentials are a micro-workload cost model, yet have a realistic row:\n%s", real)
	}
	cpu := section(t, report, "## Exporter CPU against the syscall rate")
	for _, rate := range []string{"10000", "100000", "1000000"} {
		checkRow(t, cpu, rate)
	}
	mem := section(t, report, "## Kernel memory of the rings")
	if !strings.Contains(mem, "| small | 512 |") || !strings.Contains(mem, "| large | 4096 |") {
		t.Errorf("memory table has no row for each default ring size:\n%s", mem)
	}
	targets := section(t, report, "## Targets")
	for _, want := range []string{"successful syscalls (getppid", "a notable failure", "a storm", "incident tape per container"} {
		if !strings.Contains(targets, want) {
			t.Errorf("targets section has no %q line:\n%s", want, targets)
		}
	}
	if n := strings.Count(targets, "\n- "); n < 10 {
		t.Errorf("targets section has %d lines, want every target:\n%s", n, targets)
	}
}

// section returns the report from heading to the next heading of any level.
func section(t *testing.T, report, heading string) string {
	t.Helper()
	i := strings.Index(report, heading)
	if i < 0 {
		t.Fatalf("report has no %q section", heading)
	}
	rest := report[i+len(heading):]
	if j := strings.Index(rest, "\n#"); j >= 0 {
		rest = rest[:j]
	}
	return rest
}

// checkRow finds the table row labelled label and checks that its first
// value is a positive number.
func checkRow(t *testing.T, sec, label string) {
	t.Helper()
	for _, line := range strings.Split(sec, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.TrimSpace(cells[1]) != label {
			continue
		}
		first := strings.Fields(strings.TrimSpace(cells[2]))
		if len(first) == 0 {
			t.Errorf("row %q has an empty value: %s", label, line)
			return
		}
		v, err := strconv.ParseFloat(first[0], 64)
		if err != nil || v <= 0 {
			t.Errorf("row %q: value %q is not a positive number: %s", label, first[0], line)
		}
		return
	}
	t.Errorf("no row %q in:\n%s", label, sec)
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
