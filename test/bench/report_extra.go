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
	w.WriteString("## Kernel memory of the rings (default sizes)\n\n")
	w.WriteString("From the exporter's /metrics: every container starts with a small ring and busy ones are promoted to a large one " +
		"while --recorder.memory-budget allows; *one ring* is flightrec_recorder_class_ring_bytes{class} (records and incident tape, " +
		"the tape's part in parentheses). *after the run* is flightrec_recorder_ring_memory_bytes then: the slots' metadata, the spare rings and the rings of the bench's containers not yet freed. " +
		"*all BPF maps* sums memlock over every BPF map the exporter holds (/proc/PID/fdinfo) at the end of the run.\n\n")
	w.WriteString("| class | records | one ring | of which tape |\n|---|---:|---:|---:|\n")
	fmt.Fprintf(w, "| small | %.0f | %s | %s |\n", m.smallRecords, bytesText(m.smallBytes), bytesText(m.smallTape))
	fmt.Fprintf(w, "| large | %.0f | %s | %s |\n\n", m.largeRecords, bytesText(m.largeBytes), bytesText(m.largeTape))
	fmt.Fprintf(w, "After the run: %s; budget: %s; all BPF maps: %s (%d maps).\n\n", bytesText(m.now), bytesText(m.budget), bytesText(float64(m.mapMemlock)), m.maps)
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
