package collector

import (
	"fmt"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func init() {
	register("recorder", true, "the recorder's own health: rings, records, losses, kernel memory, BPF run time",
		func(d Deps) updater { return newRecorderCollector(d) })
}

type recorderCollector struct {
	d Deps

	up, rings, maxRings, ringRecords, ringMemory, untracked           *prometheus.Desc
	written, overwritten, exitLost                                    *prometheus.Desc
	untrackedSyscalls, assigned, assignedLate, refused, containerFull *prometheus.Desc
	faults, mapFull, mapEntries, mapMax, mapMemory, eventsLost        *prometheus.Desc
	statsEnabled, progRuns, progRuntime, progMisses                   *prometheus.Desc
	kernelFeature, incidents, tapeMemory                              *prometheus.Desc
	budget, classRings, promotions, promotionsRefused                 *prometheus.Desc
	classRingBytes, classTapeBytes                                    *prometheus.Desc
}

func newRecorderCollector(d Deps) *recorderCollector {
	desc := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "recorder", name), help, labels, nil)
	}
	return &recorderCollector{
		d:                 d,
		up:                desc("up", "1 when the recorder's BPF maps could be read at this scrape."),
		rings:             desc("rings", "Container rings in use (kernel container map)."),
		maxRings:          desc("rings_max", "Rings the recorder holds (--recorder.max-containers)."),
		ringRecords:       desc("ring_records", "Records a ring holds in each size class (--recorder.small-ring-size, --recorder.ring-size).", "class"),
		ringMemory:        desc("ring_memory_bytes", "Kernel memory of the rings now: every ring's map (records and incident tape, spare rings included) and the rings' metadata. It grows with the containers present, within memory_budget_bytes."),
		tapeMemory:        desc("incident_tape_memory_bytes", "Part of ring_memory_bytes that holds incident tapes."),
		budget:            desc("memory_budget_bytes", "The most kernel memory the rings may take (--recorder.memory-budget)."),
		classRings:        desc("class_rings", "Rings by size class: small (every container's first), large (busy containers promoted), spare (small rings ready for new containers).", "class"),
		classRingBytes:    desc("class_ring_bytes", "Kernel memory of one ring of each size class, its incident tape included.", "class"),
		classTapeBytes:    desc("class_tape_bytes", "Of class_ring_bytes, the incident tape's.", "class"),
		promotions:        desc("ring_promotions_total", "Busy rings moved from the small to the large class, their records copied over."),
		promotionsRefused: desc("ring_promotions_refused_total", "Promotions of busy rings not made because the memory budget did not allow them (a quarter of it stays for new containers)."),
		incidents:         desc("incidents_total", "Incidents (notable failures, bad exits, fatal signals, OOM kills) put on the containers' incident tapes: outcome=kept with their context, outcome=suppressed without it (over --recorder.incident-rate).", "outcome"),
		untracked:         desc("untracked_containers", "Cgroups refused a ring: the memory budget or every slot was taken when they made their first syscall."),
		written:           desc("records_written_total", "Records written into rings by the kernel programs (the sum of the ring heads, live and freed)."),
		overwritten:       desc("records_overwritten_total", "Records overwritten by newer ones in their ring (live and freed rings)."),
		exitLost:          desc("exits_lost_total", "Syscall exits whose entry record had already been overwritten."),
		untrackedSyscalls: desc("untracked_syscalls_total", "Syscalls of cgroups that got no ring (none was ready: the memory budget or the slots spent); still counted in the error and latency metrics."),
		assigned:          desc("rings_assigned_total", "Rings assigned to containers: at their first syscall, or later (rings_assigned_late_total)."),
		assignedLate:      desc("rings_assigned_late_total", "Rings assigned to containers refused one at their first syscall, once a ring was ready: their rings begin mid-life."),
		refused:           desc("rings_refused_total", "Containers refused a ring: the memory budget or every slot was taken."),
		containerFull:     desc("container_map_full_total", "Syscalls from cgroups that could not even be counted as untracked: container map full."),
		faults:            desc("payload_faults_total", "Arguments in user memory that could not be copied (not paged in, bad pointers)."),
		eventsLost:        desc("cgroup_events_lost_total", "cgroup creations and removals lost because the event buffer was full; such cgroups are named at the next walk."),
		mapFull:           desc("map_full_total", "Events not counted because a counter map was full (--collector.*.max-series).", "map"),
		mapEntries:        desc("map_entries", "Entries in the kernel counter maps.", "map"),
		mapMax:            desc("map_max_entries", "Capacity of the kernel counter maps.", "map"),
		mapMemory:         desc("map_memory_bytes", "Kernel memory charged to each BPF map (memlock in its fdinfo).", "map"),
		statsEnabled:      desc("bpf_stats_enabled", "1 when kernel.bpf_stats_enabled is on, so that the program run counters below grow."),
		progRuns:          desc("program_runs_total", "Runs of each BPF program (kernel accounting, only while kernel.bpf_stats_enabled=1).", "program"),
		progRuntime:       desc("program_run_seconds_total", "Time spent in each BPF program (kernel accounting, only while kernel.bpf_stats_enabled=1).", "program"),
		progMisses:        desc("program_recursion_misses_total", "Runs of each BPF program skipped because another BPF program was running on the CPU: syscalls not recorded.", "program"),
		kernelFeature:     desc("kernel_feature", "1 when the running kernel has an optional feature the recorder uses: oom_kill (OOM-killer victims marked in the rings, tracepoint mark_victim), group_dead (sched_process_exit says which thread ends its process; without it, the exporter works it out from the ring).", "feature"),
	}
}

func (c *recorderCollector) Update(ch chan<- prometheus.Metric) error {
	src := c.d.Source
	cfg := src.Config()
	gauge := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
	}
	counter := func(d *prometheus.Desc, v float64, l ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, l...)
	}
	gauge(c.maxRings, float64(cfg.MaxRings))
	for f, ok := range src.KernelFeatures() {
		v := 0.0
		if ok {
			v = 1
		}
		gauge(c.kernelFeature, v, f)
	}
	gauge(c.ringRecords, float64(cfg.SmallRingSize), "small")
	gauge(c.ringRecords, float64(cfg.RingSize), "large")

	rings, untracked, err := src.Rings()
	if err != nil {
		gauge(c.up, 0)
		return err
	}
	stats, err := src.Stats()
	if err != nil {
		gauge(c.up, 0)
		return err
	}
	gauge(c.up, 1)
	var overwritten, written uint64
	for _, r := range rings {
		overwritten += r.Overwritten()
		written += r.Written
	}
	gauge(c.rings, float64(len(rings)))
	gauge(c.untracked, float64(len(untracked)))
	var relWritten, relOverwritten uint64
	if c.d.Released != nil {
		relWritten, relOverwritten = c.d.Released.ReleasedRecords()
	}
	counter(c.written, float64(written+relWritten))
	counter(c.overwritten, float64(overwritten+relOverwritten))
	counter(c.exitLost, float64(stats.ExitLost))
	counter(c.untrackedSyscalls, float64(stats.UntrackedSyscalls))
	counter(c.assigned, float64(stats.ContainersAdded))
	counter(c.assignedLate, float64(stats.ContainersLate))
	counter(c.refused, float64(stats.ContainersUntracked))
	counter(c.containerFull, float64(stats.ContainerMapFull))
	counter(c.faults, float64(stats.PayloadFaults))
	counter(c.eventsLost, float64(stats.CgroupEventsLost))
	counter(c.incidents, float64(stats.Incidents-stats.IncidentsSuppressed), "kept")
	counter(c.incidents, float64(stats.IncidentsSuppressed), "suppressed")
	counter(c.mapFull, float64(stats.ErrorsMapFull), "errors")
	counter(c.mapFull, float64(stats.LatencyMapFull), "latencies")

	nErr, nLat, err := src.MapEntries()
	if err != nil {
		return err
	}
	gauge(c.mapEntries, float64(nErr), "errors")
	gauge(c.mapEntries, float64(nLat), "latencies")
	gauge(c.mapMax, float64(cfg.ErrorSeries), "errors")
	gauge(c.mapMax, float64(cfg.LatencySeries), "latencies")

	mem, err := src.MapMemory()
	if err != nil {
		return err
	}
	for name, v := range mem {
		gauge(c.mapMemory, float64(v), name)
	}
	rm := src.Memory()
	gauge(c.ringMemory, float64(rm.Bytes))
	gauge(c.tapeMemory, float64(rm.TapeBytes))
	gauge(c.budget, float64(rm.Budget))
	gauge(c.classRings, float64(rm.Small), "small")
	gauge(c.classRings, float64(rm.Large), "large")
	gauge(c.classRings, float64(rm.Spare), "spare")
	gauge(c.classRingBytes, float64(rm.SmallBytes), "small")
	gauge(c.classRingBytes, float64(rm.LargeBytes), "large")
	gauge(c.classTapeBytes, float64(rm.SmallTapeBytes), "small")
	gauge(c.classTapeBytes, float64(rm.LargeTapeBytes), "large")
	counter(c.promotions, float64(rm.Promotions))
	counter(c.promotionsRefused, float64(rm.Unpromoted))

	enabled, err := bpfStatsEnabled()
	if err == nil {
		gauge(c.statsEnabled, enabled)
	}
	progs, err := src.ProgramStats()
	if err != nil {
		return err
	}
	for name, p := range progs {
		counter(c.progRuns, float64(p.Runs), name)
		counter(c.progRuntime, p.Runtime.Seconds(), name)
		counter(c.progMisses, float64(p.Misses), name)
	}
	return nil
}

func bpfStatsEnabled() (float64, error) {
	b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled")
	if err != nil {
		return 0, fmt.Errorf("reading kernel.bpf_stats_enabled: %w", err)
	}
	if strings.TrimSpace(string(b)) == "1" {
		return 1, nil
	}
	return 0, nil
}
