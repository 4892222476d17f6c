package collector

import (
	"sort"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func init() {
	register("errors", true, "failed syscalls by container, syscall and errno, counted in the kernel",
		func(d Deps) updater { return newErrorsCollector(d) })
}

type errorsCollector struct {
	d    Deps
	desc *prometheus.Desc
}

func newErrorsCollector(d Deps) *errorsCollector {
	return &errorsCollector{d: d, desc: prometheus.NewDesc(
		prometheus.BuildFQName(namespace, "syscall", "errors_total"),
		"Syscalls that returned an error (-4095..-1), by errno name, counted in the kernel at sys_exit. "+
			"With OpenMetrics, the exemplar names the latest failure: the ring of the run (cgroup_id) and its record (seq): /dump?...&cgroup_id=ID&around=SEQ shows it.",
		[]string{"namespace", "pod", "container", "syscall", "errno"}, nil)}
}

type errorSeries struct {
	labels [5]string
	count  uint64
	seq    uint64
	lastNs uint64
	ring   uint64 // cgroup id of the run that failed last
}

func (c *errorsCollector) Update(ch chan<- prometheus.Metric) error {
	done := c.d.Retired.reading()
	defer done()
	counts, err := c.d.Source.ErrorCounts()
	if err != nil {
		return err
	}
	// Cgroups with the same labels (a restarted container) add up.
	series := map[[5]string]*errorSeries{}
	for _, e := range counts {
		l, ok := c.d.Labels.Labels(e.CgroupID)
		if !ok {
			continue
		}
		key := errorKey(l, c.d.Arch.Name(e.Nr), e.Errno)
		s := series[key]
		if s == nil {
			s = &errorSeries{labels: key}
			series[key] = s
		}
		s.count += e.Count
		if e.LastNs > s.lastNs {
			s.lastNs, s.seq, s.ring = e.LastNs, e.LastSeq, e.CgroupID
		}
	}
	c.d.Retired.mergeErrors(series, c.d.Labels.LabelSet())
	for _, s := range series {
		m := prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(s.count), s.labels[:]...)
		if s.seq != 0 {
			if mx, err := prometheus.NewMetricWithExemplars(m, prometheus.Exemplar{
				Value: 1, Timestamp: c.d.Clock(s.lastNs), Labels: prometheus.Labels{
					"cgroup_id": strconv.FormatUint(s.ring, 10), "seq": strconv.FormatUint(s.seq, 10)},
			}); err == nil {
				m = sortedExemplar{mx}
			}
		}
		ch <- m
	}
	return nil
}

// sortedExemplar writes m with its exemplar's labels in name order: the
// client library writes them in the order of a map, which changes from
// scrape to scrape.
type sortedExemplar struct{ prometheus.Metric }

func (m sortedExemplar) Write(out *dto.Metric) error {
	if err := m.Metric.Write(out); err != nil {
		return err
	}
	if ex := out.GetCounter().GetExemplar(); ex != nil {
		sort.Slice(ex.Label, func(i, j int) bool { return ex.Label[i].GetName() < ex.Label[j].GetName() })
	}
	return nil
}
