package main

import (
	"strings"
	"testing"
)

func TestSummaryNamesSkipsAndPrintsFailures(t *testing.T) {
	var out strings.Builder
	s := newSummary(&out, "example.com/m")
	for _, e := range []event{
		{Action: "output", Package: "example.com/m/test/e2e", Test: "TestA", Output: "=== RUN   TestA\n"},
		{Action: "output", Package: "example.com/m/test/e2e", Test: "TestA", Output: "    e2e_test.go:12: some log\n"},
		{Action: "output", Package: "example.com/m/test/e2e", Test: "TestA", Output: "    e2e_test.go:44: prometheus not installed: the end-to-end test runs it\n"},
		{Action: "output", Package: "example.com/m/test/e2e", Test: "TestA", Output: "--- SKIP: TestA (0.00s)\n"},
		{Action: "skip", Package: "example.com/m/test/e2e", Test: "TestA"},
		{Action: "output", Package: "example.com/m/bpf", Test: "TestB", Output: "    x_test.go:1: needs root: loads BPF\n"},
		{Action: "skip", Package: "example.com/m/bpf", Test: "TestB"},
		{Action: "output", Package: "example.com/m/bpf", Test: "TestC", Output: "    x_test.go:2: needs root: loads BPF\n"},
		{Action: "skip", Package: "example.com/m/bpf", Test: "TestC"},
		{Action: "output", Package: "example.com/m/bpf", Test: "TestD", Output: "    x_test.go:3: boom\n"},
		{Action: "fail", Package: "example.com/m/bpf", Test: "TestD"},
		{Action: "output", Package: "example.com/m/bpf", Test: "TestE", Output: "    x_test.go:4: quiet\n"},
		{Action: "pass", Package: "example.com/m/bpf", Test: "TestE"},
		{Action: "output", Package: "example.com/m/bpf", Output: "FAIL\texample.com/m/bpf\t0.1s\n"},
	} {
		s.event(e)
	}
	got := out.String()
	if !strings.Contains(got, "boom") || strings.Contains(got, "quiet") || !strings.Contains(got, "FAIL\texample.com/m/bpf") {
		t.Errorf("output %q: want the failed test's log and the package line, not the passed test's", got)
	}
	want := "skipped 3: bpf 2 tests (needs root: loads BPF); test/e2e TestA (prometheus not installed: the end-to-end test runs it)"
	if line := s.line(); line != want {
		t.Errorf("summary\n%q, want\n%q", line, want)
	}
	if s.failed != 1 {
		t.Errorf("%d failed, want 1", s.failed)
	}
	if line := newSummary(&out, "m").line(); line != "skipped: none" {
		t.Errorf("no skips: %q", line)
	}
}
