package main

import (
	"fmt"
	"slices"
	"strings"
)

// report renders the results as markdown.
func (b *bench) report() string {
	var w strings.Builder
	b.writeHeader(&w)
	b.writeMicro(&w)
	b.writeIncidents(&w)
	b.writeRealistic(&w)
	b.writeCPU(&w)
	b.writeMemory(&w)
	b.writeTargets(&w)
	return w.String()
}

func (b *bench) writeHeader(w *strings.Builder) {
	m, z := b.machine, b.cfg.sizes
	fmt.Fprintf(w, "# flightrec_exporter overhead benchmark\n\n")
	fmt.Fprintf(w, "- Date: %s\n", m.date)
	fmt.Fprintf(w, "- Machine: %s, %d cores, %s memory, kernel %s\n", m.cpu, m.cores, m.memory, m.kernel)
	tools := []string{m.goVersion}
	for _, t := range []string{"strace", "redis-server"} {
		if v, ok := m.tools[t]; ok {
			tools = append(tools, v)
		}
	}
	fmt.Fprintf(w, "- Tools: %s\n", strings.Join(tools, "; "))
	quick := ""
	if b.cfg.quick {
		quick = " **(-quick: smoke-test sizes, numbers are not meaningful)**"
	}
	fmt.Fprintf(w, "- Rounds: %d%s; in every round each workload is measured under every mode back to back, in an order rotated each round; cells are median (min–max) over rounds\n", b.cfg.rounds, quick)
	fmt.Fprintf(w, "- Sizes: getppid %d calls, openat %d calls, file I/O %d ops (×3 syscalls), openat-notable and openat-erofs %d calls each per run, best of %d runs per round, each run under a fresh session of its mode (programs loaded anew); under strace ÷%d. ",
		z.getppid, z.openat, z.fileio, z.openat, z.reps, z.straceDivisor)
	if r, ok := b.real.(*redisWorkload); ok && r != nil {
		fmt.Fprintf(w, "redis-benchmark %d SET + %d GET, %d clients, 64 B values (÷%d under strace), best of %d runs per round. ",
			z.redisRequests, z.redisRequests, redisClients, z.redisStraceDivisor, max(z.redisReps, 1))
	} else if b.real != nil {
		fmt.Fprintf(w, "tar of %d files × 4 KiB on tmpfs, best of %d runs per round. ", z.tarFiles, max(z.redisReps, 1))
	}
	fmt.Fprintf(w, "Paced runs: %s per rate.\n", z.pacedFor)
	if cpu := workloadCPU(); cpu >= 0 {
		fmt.Fprintf(w, "- Micro workloads run with their measuring thread pinned to CPU %d, as does redis-server's main thread (server_cpulist); redis-benchmark runs on CPU %d when taskset is installed; harness, exporter and tracers are not pinned\n", cpu, max(cpu-1, 0))
	}
	fmt.Fprintf(w, "- Exporter: default flags (ring size, max containers) except --recorder.cgroup-parent=%s %s; modes: %s\n\n",
		b.cg.parent(), strings.Join(b.exporterFlags, " "), b.modeLabels())
	for _, n := range b.notes {
		fmt.Fprintf(w, "> %s\n", n)
	}
	if b.res.discarded > 0 {
		fmt.Fprintf(w, "> %d runs were repeated because other processes had BPF programs on sys_enter/sys_exit during them (they slow every syscall in every mode, \"none\" included).\n", b.res.discarded)
	}
	if len(b.res.foreign) > 0 {
		fmt.Fprintf(w, "> **Warning: these runs were kept although other processes had BPF programs on sys_enter/sys_exit** (cells marked †; added costs read low there):\n")
		for _, f := range b.res.foreign {
			fmt.Fprintf(w, "> - %s\n", f)
		}
	}
	for _, n := range b.sanityNotes() {
		fmt.Fprintf(w, "> **Warning:** %s\n", n)
	}
	w.WriteString("\n")
}

func (b *bench) modeLabels() string {
	var l []string
	for _, m := range b.modes {
		l = append(l, m.label)
	}
	return strings.Join(l, ", ")
}

// sanityNotes checks that tracked runs were recorded and outside runs not.
func (b *bench) sanityNotes() []string {
	var out []string
	for _, wl := range microWorkloads {
		for _, pl := range wl.placements() {
			for _, m := range b.modes {
				if !m.isExporter() || !wl.measures(m) {
					continue
				}
				rec := summarize(pick(b.res.micro[microKey(wl.key, pl)][m.key], func(s microSample) float64 { return s.records }))
				if rec.n == 0 {
					continue
				}
				if pl == placeTracked && rec.lo < 0.9 {
					out = append(out, fmt.Sprintf("%s %s under %s: only %.2f records per syscall: the container was not fully recorded.", wl.key, pl, m.key, rec.lo))
				}
				if pl == placeOutside && rec.hi > 0.1 {
					out = append(out, fmt.Sprintf("%s %s under %s: %.2f records per syscall: a cgroup outside the parent was recorded.", wl.key, pl, m.key, rec.hi))
				}
			}
		}
	}
	return append(out, b.incidentSanity()...)
}

// incidentSanity checks that the notable workloads' failures were
// incidents as their modes say: suppressed (a storm) under the default
// exporter, kept with context unthrottled, none with incidents off.
func (b *bench) incidentSanity() []string {
	var out []string
	for _, wl := range microWorkloads {
		if !wl.notable {
			continue
		}
		data := b.res.micro[microKey(wl.key, placeTracked)]
		per := func(mode string, f func(microSample) float64) summary { return summarize(pick(data[mode], f)) }
		kept := func(s microSample) float64 { return s.kept }
		supp := func(s microSample) float64 { return s.suppressed }
		if s := per("exporter", supp); s.n > 0 && s.lo < 0.9 {
			out = append(out, fmt.Sprintf("%s under exporter: only %.2f suppressed incidents per syscall: not a storm.", wl.key, s.lo))
		}
		if s := per("exporter-unthrottled", kept); s.n > 0 && s.lo < 0.9 {
			out = append(out, fmt.Sprintf("%s unthrottled: only %.2f incidents kept with context per syscall.", wl.key, s.lo))
		}
		if k, s := per("exporter-noincidents", kept), per("exporter-noincidents", supp); k.n > 0 && k.hi+s.hi > 0.01 {
			out = append(out, fmt.Sprintf("%s with incidents off: %.2f incidents per syscall.", wl.key, k.hi+s.hi))
		}
	}
	return out
}

func (b *bench) writeMicro(w *strings.Builder) {
	w.WriteString("## Micro workloads: cost per syscall\n\n")
	w.WriteString("*ns/syscall* is on-CPU time per syscall of the workload thread (CLOCK_THREAD_CPUTIME_ID, measured inside the workload; an in-kernel tracer runs on that thread) — for strace, plus strace's own CPU time — in the best of the round's runs (interference only adds time). " +
		"*added* is mode − none, paired within each round. *× floor* is the median added cost over the floor's median added cost (in parentheses: the range of the per-round ratios, and the ratio of the best runs over all rounds, (best mode − best none) / (best floor − best none), which drops whatever noise added to a whole round). " +
		"Where the per-round ratios spread widely, the median ratio is within the machine's noise (heavier syscalls vary by ±10% from process to process on a VM). " +
		"*essentials* is a cost model, not a tracer: the least any recorder of times, durations and payloads does per syscall (the recorder's scope check, a clock read at entry and at exit, the path or write-buffer copy; test/bench/floor.bpf.c); the exporter's cost above it is what the ring, the record, the per-thread state and the counters add. " +
		"*exporter (incidents off)* is the exporter with --recorder.incident-errnos=none; *exporter (incidents unthrottled)* lifts the incident rate limit (notable-failure workloads only; see Incidents below); on openat-notable, ENOENT is an incident errno where incidents are on. " +
		"*wall* is elapsed time per syscall (sensitive to other load on the machine). *records/syscall* is the exporter's records_written_total increase per syscall the workload made (≈1 when recorded, 0 when not).\n\n")
	for _, wl := range microWorkloads {
		for _, pl := range wl.placements() {
			b.writeMicroTable(w, wl, pl)
		}
	}
}

// placementTitle describes where a micro workload ran.
func placementTitle(pl string) string {
	if pl == placeTracked {
		return "in a tracked container"
	}
	return "outside tracked cgroups"
}

func (b *bench) writeMicroTable(w *strings.Builder, wl microWorkload, pl string) {
	data := b.res.micro[microKey(wl.key, pl)]
	fmt.Fprintf(w, "### %s — %s\n\n", wl.title, placementTitle(pl))
	w.WriteString("| mode | ns/syscall | added ns vs none | × floor | wall ns/syscall | records/syscall |\n")
	w.WriteString("|---|---:|---:|---:|---:|---:|\n")
	none := data["none"]
	floorAdded := summarize(paired(data["floor"], none, cpuDiff))
	for _, m := range b.modes {
		if !wl.measures(m) {
			continue
		}
		smp := data[m.key]
		cpu := summarize(pick(smp, func(s microSample) float64 { return s.cpuNs }))
		wall := summarize(pick(smp, func(s microSample) float64 { return s.wallNs }))
		added, ratio, rec := "–", "–", "–"
		if m.id != modeNone {
			a := summarize(paired(smp, none, cpuDiff))
			added = a.format("%+.1f")
			if m.id != modeFloor {
				ratio = ratioText(a.med, floorAdded.med) + parenthesized(roundRatios(smp, data["floor"], none), bestRatioText(smp, data["floor"], none))
			}
		}
		if m.isExporter() {
			rec = summarize(pick(smp, func(s microSample) float64 { return s.records })).format("%.2f")
		}
		fmt.Fprintf(w, "| %s | %s%s | %s | %s | %s | %s |\n", m.label, cpu.format("%.1f"), dagger(smp), added, ratio, wall.format("%.1f"), rec)
	}
	w.WriteString("\n")
}

// dagger marks a cell some of whose runs had foreign syscall tracers.
func dagger(smp []microSample) string {
	for _, s := range smp {
		if s.foreign {
			return " †"
		}
	}
	return ""
}

func cpuDiff(x, y microSample) float64 { return x.cpuNs - y.cpuNs }

// ratioText is a/floor as "N.N×", or why there is none.
func ratioText(a, floor float64) string {
	if floor <= 0 {
		return "n/a (floor ≤ 0)"
	}
	return fmt.Sprintf("%.2f×", a/floor)
}

// parenthesized joins the non-empty parts as " (a; b)", or "" when none.
func parenthesized(parts ...string) string {
	parts = slices.DeleteFunc(parts, func(p string) bool { return p == "" })
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// bestRatio is the ratio of added costs over the best run of each mode in
// all rounds; ok is false when the floor's best added cost is not positive.
func bestRatio(smp, floor, none []microSample) (r float64, ok bool) {
	cpu := func(s microSample) float64 { return s.cpuNs }
	n := summarize(pick(none, cpu)).lo
	f := summarize(pick(floor, cpu)).lo - n
	if len(smp) == 0 || f <= 0 {
		return 0, false
	}
	return (summarize(pick(smp, cpu)).lo - n) / f, true
}

// bestRatioText is bestRatio for a table cell.
func bestRatioText(smp, floor, none []microSample) string {
	if r, ok := bestRatio(smp, floor, none); ok {
		return fmt.Sprintf("best runs %.2f×", r)
	}
	return ""
}

// roundRatios is the range of the per-round ratios of added costs, which
// shows how far the median ratio can be trusted; "" when a round's floor
// added cost was not positive or there is one round.
func roundRatios(smp, floor, none []microSample) string {
	n := min(len(smp), len(floor), len(none))
	if n < 2 {
		return ""
	}
	rs := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		f := floor[i].cpuNs - none[i].cpuNs
		if f <= 0 {
			return ""
		}
		rs = append(rs, (smp[i].cpuNs-none[i].cpuNs)/f)
	}
	r := summarize(rs)
	return fmt.Sprintf("rounds %.1f–%.1f×", r.lo, r.hi)
}

func (b *bench) writeRealistic(w *strings.Builder) {
	if b.real == nil {
		return
	}
	unit, _ := b.real.unit()
	if _, ok := b.real.(*redisWorkload); ok {
		w.WriteString("## Realistic: redis-server in a tracked container, redis-benchmark outside, over loopback\n\n")
		w.WriteString("*requests/s* is redis-benchmark's SET and GET rates combined (total requests over total time). *loss* is the throughput lost against none in the same round. " +
			"*container CPU* is the redis container's cgroup CPU (cpu.stat usage_usec; under strace it includes strace, which runs in the container) per request.\n\n")
	} else {
		w.WriteString("## Realistic: tar of a generated tree on tmpfs, in a tracked container\n\n")
		w.WriteString("*s/run* is the wall time of one tar run; *loss* is the throughput (runs/s) lost against none in the same round; *container CPU* is the container's cgroup CPU per run.\n\n")
	}
	fmt.Fprintf(w, "| mode | %s | loss vs none | %s | CPU vs none |\n|---|---:|---:|---:|---:|\n", unit, b.real.cpuUnit())
	none := b.res.real["none"]
	for _, m := range b.modes {
		if m.microOnly() {
			continue
		}
		smp := b.res.real[m.key]
		val := summarize(pick(smp, func(s realSample) float64 { return s.value }))
		cpu := summarize(pick(smp, func(s realSample) float64 { return s.cpu }))
		lossTxt, cpuTxt := "–", "–"
		if m.id != modeNone {
			lossTxt = summarize(paired(smp, none, func(x, y realSample) float64 { return loss(b.real, x.value, y.value) })).format("%.1f%%")
			cpuTxt = summarize(paired(smp, none, func(x, y realSample) float64 { return 100 * (x.cpu/y.cpu - 1) })).format("%+.1f%%")
		}
		valFmt, cpuFmt := "%.0f", "%.2f"
		if _, ok := b.real.(*tarWorkload); ok {
			valFmt, cpuFmt = "%.3f", "%.3f"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s |\n", m.label, val.format(valFmt), lossTxt, cpu.format(cpuFmt), cpuTxt)
	}
	w.WriteString("\n")
}
