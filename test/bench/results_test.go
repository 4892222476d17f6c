package main

import (
	"math"
	"testing"
)

func samples(ns ...float64) []microSample {
	out := make([]microSample, len(ns))
	for i, n := range ns {
		out[i] = microSample{cpuNs: n}
	}
	return out
}

func TestBestRatioUsesEachModesBestRun(t *testing.T) {
	none := samples(200, 180, 230)
	floor := samples(330, 380, 310) // best 310: +130
	exp := samples(600, 505, 520)   // best 505: +325
	r, ok := bestRatio(exp, floor, none)
	if !ok || math.Abs(r-2.5) > 1e-9 {
		t.Fatalf("bestRatio = %v, %v; want 2.5", r, ok)
	}
	if _, ok := bestRatio(exp, samples(170), none); ok {
		t.Error("a floor whose best run is below none's best has no ratio")
	}
	if _, ok := bestRatio(nil, floor, none); ok {
		t.Error("no runs of the mode: no ratio")
	}
}

func TestParenthesized(t *testing.T) {
	for _, c := range []struct {
		parts []string
		want  string
	}{
		{nil, ""},
		{[]string{"", ""}, ""},
		{[]string{"rounds 1.0–2.0×", ""}, " (rounds 1.0–2.0×)"},
		{[]string{"rounds 1.0–2.0×", "best runs 1.50×"}, " (rounds 1.0–2.0×; best runs 1.50×)"},
	} {
		if got := parenthesized(c.parts...); got != c.want {
			t.Errorf("parenthesized(%q) = %q, want %q", c.parts, got, c.want)
		}
	}
}
