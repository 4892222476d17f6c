package main

import (
	"fmt"
	"strings"
)

func (b *bench) writeCPU(w *strings.Builder) {
	if len(b.res.cpu) == 0 {
		return
	}
	w.WriteString("## Exporter CPU against the syscall rate\n\n")
	fmt.Fprintf(w, "A paced getppid workload runs in a tracked container for %s per rate under the exporter (default settings), while the harness scrapes /metrics and dumps the container's ring (/dump?cgroup=…) once per second. "+
		"*exporter CPU* is the exporter process's utime+stime (/proc/PID/stat, all threads, 10 ms ticks) per second of workload. The syscalls' own recording cost is charged to the workload (the BPF programs run on its thread), so this is what the exporter costs besides: it should follow scrapes and dumps, not the rate. Rate 0 is the idle reference.\n\n", b.cfg.sizes.pacedFor)
	w.WriteString("| target syscalls/s | achieved syscalls/s | exporter CPU ms/s | requests served per run |\n|---:|---:|---:|---:|\n")
	for _, rate := range pacedRates {
		smp := b.res.cpu[rate]
		ach := summarize(pick(smp, func(s cpuSample) float64 { return s.achieved }))
		cpu := summarize(pick(smp, func(s cpuSample) float64 { return s.msPerSec }))
		req := summarize(pick(smp, func(s cpuSample) float64 { return float64(s.scrapes) }))
		fmt.Fprintf(w, "| %d | %s | %s | %s |\n", rate, ach.format("%.0f"), cpu.format("%.1f"), req.format("%.0f"))
	}
	w.WriteString("\n")
}

func (b *bench) writeMemory(w *strings.Builder) {
	m := b.res.mem
	if m == nil {
		return
	}
	w.WriteString("## Kernel memory per container ring (default ring size)\n\n")
	w.WriteString("From the exporter's /metrics: *per ring* = flightrec_recorder_ring_memory_bytes / flightrec_recorder_rings_max (records and ring metadata). " +
		"*incident tape per ring* = flightrec_recorder_incident_tape_memory_bytes / flightrec_recorder_rings_max (default: 16 first + 96 latest entries × (8 context + 1) records × 248 B, allocated at start, besides the ring). " +
		"*all BPF maps* sums memlock over every BPF map the exporter holds (/proc/PID/fdinfo): rings and tapes plus the container table, capture table, per-CPU stats and scratch.\n\n")
	w.WriteString("| ring size (records) | bytes per record | per ring | incident tape per ring | rings max | all rings | all tapes | all BPF maps |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(w, "| %.0f | %.0f | %s | %s (%.0f B) | %.0f | %s | %s | %s (%d maps) |\n\n", m.ringRecords, m.perRing()/m.ringRecords,
		bytesText(m.perRing()), bytesText(m.tapePerRing()), m.tapePerRing(), m.ringsMax, bytesText(m.ringMemory), bytesText(m.tapeMemory), bytesText(float64(m.mapMemlock)), m.maps)
}

// bytesText prints a byte count in KiB or MiB.
func bytesText(n float64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", n/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", n/(1<<10))
	}
	return fmt.Sprintf("%.0f B", n)
}
