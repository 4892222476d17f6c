package main

import (
	"fmt"
	"math"
	"slices"
)

// results holds every sample. Slices are indexed by round: every mode is
// measured in every round, so index i of two modes is a pair.
type results struct {
	micro     map[string]map[string][]microSample // "workload/placement" → mode key → per round
	real      map[string][]realSample             // mode key → per round
	cpu       map[int][]cpuSample                 // paced rate → per round
	mem       *memInfo
	foreign   []string // runs kept although other syscall tracers were attached
	discarded int      // runs repeated because other syscall tracers were attached
}

func newResults() results {
	return results{micro: map[string]map[string][]microSample{}, real: map[string][]realSample{}, cpu: map[int][]cpuSample{}}
}

func microKey(workload, placement string) string { return workload + "/" + placement }

func (r *results) addMicro(workload, placement, mode string, s microSample) {
	k := microKey(workload, placement)
	if r.micro[k] == nil {
		r.micro[k] = map[string][]microSample{}
	}
	r.micro[k][mode] = append(r.micro[k][mode], s)
}

// summary is the median and range of a set of numbers.
type summary struct {
	med, lo, hi float64
	n           int
}

func summarize(xs []float64) summary {
	if len(xs) == 0 {
		return summary{med: math.NaN(), lo: math.NaN(), hi: math.NaN()}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return summary{med: m, lo: s[0], hi: s[len(s)-1], n: len(s)}
}

// format prints "median (min–max)" with the given verb.
func (s summary) format(verb string) string {
	if s.n == 0 {
		return "–"
	}
	if s.n == 1 {
		return fmt.Sprintf(verb, s.med)
	}
	return fmt.Sprintf(verb+" ("+verb+"–"+verb+")", s.med, s.lo, s.hi)
}

// paired applies f to the samples of two modes round by round.
func paired[T any](a, b []T, f func(x, y T) float64) []float64 {
	n := min(len(a), len(b))
	out := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, f(a[i], b[i]))
	}
	return out
}

// pick maps samples to one of their numbers.
func pick[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}
