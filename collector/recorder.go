// Package collector turns the recorder's kernel maps into Prometheus
// metrics, read at scrape time.
package collector

import (
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flightrec/flightrec_exporter/bpf"
)

const namespace = "flightrec"

// RecorderSource is the part of the recorder the health collector reads.
type RecorderSource interface {
	Rings() ([]bpf.Ring, []uint64, error)
	Stats() (bpf.Stats, error)
	Config() bpf.Config
}

// RecorderCollector reports the recorder's own health: rings, records,
// losses and kernel memory.
type RecorderCollector struct {
	source RecorderSource
	// Counts kept in user space: records dropped by dumps, and rings freed.
	torn                func() uint64
	released            func() uint64
	releasedOverwritten func() uint64
	logger              *slog.Logger

	rings, maxRings, ringRecords, memory, untracked *prometheus.Desc
	written, overwritten, tornDesc, exitLost       *prometheus.Desc
	untrackedSyscalls, added, refused, mapFull     *prometheus.Desc
	faults, releasedDesc, up                       *prometheus.Desc
}

// NewRecorderCollector returns the health collector. The functions report
// counts kept in user space (dropped torn records, freed rings).
func NewRecorderCollector(src RecorderSource, torn, released, releasedOverwritten func() uint64, logger *slog.Logger) *RecorderCollector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "recorder", name), help, nil, nil)
	}
	return &RecorderCollector{
		source: src, torn: torn, released: released, releasedOverwritten: releasedOverwritten, logger: logger,
		up:                d("up", "1 when the recorder's BPF maps could be read at this scrape."),
		rings:             d("rings", "Container rings in use (from the kernel's container map)."),
		maxRings:          d("rings_max", "Rings the recorder can hold (--recorder.max-containers)."),
		ringRecords:       d("ring_records", "Records per container ring (--recorder.ring-size)."),
		memory:            d("ring_memory_bytes", "Kernel memory reserved for all rings (records and metadata), allocated at start."),
		untracked:         d("untracked_containers", "Cgroups refused a ring because every ring was taken."),
		written:           d("records_written_total", "Records written into rings by the kernel programs."),
		overwritten:       d("records_overwritten_total", "Records overwritten by newer ones before anyone read them out (live and freed rings)."),
		tornDesc:          d("records_torn_total", "Records dropped by /dump because they were overwritten while being copied."),
		exitLost:          d("exits_lost_total", "Syscall exits whose entry record had already been overwritten."),
		untrackedSyscalls: d("untracked_syscalls_total", "Syscalls of cgroups that got no ring (cap reached)."),
		added:             d("rings_assigned_total", "Rings assigned to new containers at their first syscall."),
		refused:           d("rings_refused_total", "Containers refused a ring because every ring was taken."),
		mapFull:           d("container_map_full_total", "Syscalls from cgroups that could not even be counted: the container map was full."),
		faults:            d("payload_faults_total", "Arguments in user memory that could not be copied (not paged in, bad pointers)."),
		releasedDesc:      d("rings_released_total", "Rings freed after their cgroup was removed."),
	}
}

// Describe implements prometheus.Collector.
func (c *RecorderCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.rings, c.maxRings, c.ringRecords, c.memory, c.untracked,
		c.written, c.overwritten, c.tornDesc, c.exitLost, c.untrackedSyscalls, c.added, c.refused,
		c.mapFull, c.faults, c.releasedDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *RecorderCollector) Collect(ch chan<- prometheus.Metric) {
	cfg := c.source.Config()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(c.maxRings, float64(cfg.MaxRings))
	gauge(c.ringRecords, float64(cfg.RingSize))
	gauge(c.memory, float64(int64(cfg.MaxRings)*(cfg.RingBytes()+32)))
	counter(c.tornDesc, c.torn())
	counter(c.releasedDesc, c.released())

	rings, untracked, err := c.source.Rings()
	stats, serr := c.source.Stats()
	if err != nil || serr != nil {
		c.logger.Error("reading recorder maps", "err", err, "stats_err", serr)
		gauge(c.up, 0)
		return
	}
	gauge(c.up, 1)
	var overwritten, exitLost uint64
	for _, r := range rings {
		overwritten += r.Overwritten(cfg.RingSize)
		exitLost += r.ExitLost
	}
	gauge(c.rings, float64(len(rings)))
	gauge(c.untracked, float64(len(untracked)))
	counter(c.written, stats.Records)
	counter(c.overwritten, overwritten+c.releasedOverwritten())
	counter(c.exitLost, stats.ExitLost)
	counter(c.untrackedSyscalls, stats.UntrackedSyscalls)
	counter(c.added, stats.ContainersAdded)
	counter(c.refused, stats.ContainersUntracked)
	counter(c.mapFull, stats.ContainerMapFull)
	counter(c.faults, stats.PayloadFaults)
}
