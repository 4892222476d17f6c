package collector

import (
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
	"math"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flightrec/flightrec_exporter/bpf"
)

func init() {
	register("syscalls", true, "calls and latency histograms of the watched syscalls (--collector.syscalls.watch), counted in the kernel",
		func(d Deps) updater { return newSyscallsCollector(d) })
}

type syscallsCollector struct {
	d               Deps
	calls, duration *prometheus.Desc
	bounds          []float64 // bucket upper bounds in seconds
}

func newSyscallsCollector(d Deps) *syscallsCollector {
	labels := []string{"namespace", "pod", "container", "syscall", "op"}
	c := &syscallsCollector{
		d: d,
		calls: prometheus.NewDesc(prometheus.BuildFQName(namespace, "", "syscalls_total"),
			"Calls of the watched syscalls, counted in the kernel at sys_exit. For futex, op is wait (the caller blocks: contention) or wake; empty for other syscalls.",
			labels, nil),
		duration: prometheus.NewDesc(prometheus.BuildFQName(namespace, "syscall", "duration_seconds"),
			"Time from sys_enter to sys_exit of the watched syscalls, from in-kernel log2 buckets. For futex waits, the time spent waiting.",
			labels, nil),
	}
	for i := 0; i < bpf.LatencyBuckets-1; i++ {
		c.bounds = append(c.bounds, math.Ldexp(1, bpf.LatencyMinShift+i)/1e9)
	}
	return c
}

// opLabel is the op label of a watched syscall.
func opLabel(syscall string, op uint32) string {
	switch syscall {
	case "futex":
		return syscalls.FutexEffect(op)
	case "futex_waitv":
		return "wait"
	}
	return ""
}

type latencySeries struct {
	labels  [5]string
	count   uint64
	sumNs   uint64
	buckets [bpf.LatencyBuckets]uint64
}

func (c *syscallsCollector) Update(ch chan<- prometheus.Metric) error {
	done := c.d.Retired.reading()
	defer done()
	lats, err := c.d.Source.Latencies()
	if err != nil {
		return err
	}
	series := map[[5]string]*latencySeries{}
	for _, l := range lats {
		cl, ok := c.d.Labels.Labels(l.CgroupID)
		if !ok {
			continue
		}
		key := latencyKey(cl, c.d.Arch.Name(l.Nr), l.Op)
		s := series[key]
		if s == nil {
			s = &latencySeries{labels: key}
			series[key] = s
		}
		s.add(l)
	}
	c.d.Retired.mergeLatencies(series, c.d.Labels.LabelSet())
	for _, s := range series {
		ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, float64(s.count), s.labels[:]...)
		buckets := make(map[float64]uint64, len(c.bounds))
		var cum uint64
		for i, le := range c.bounds {
			cum += s.buckets[i]
			buckets[le] = cum
		}
		ch <- prometheus.MustNewConstHistogram(c.duration, s.count, float64(s.sumNs)/1e9, buckets, s.labels[:]...)
	}
	return nil
}
