package bpf

import (
	"bufio"
	"fmt"
	"github.com/cilium/ebpf"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// MapMemory returns the kernel memory charged to each map (memlock in the
// map's fdinfo), by map name.
func (r *Recorder) MapMemory() (map[string]uint64, error) {
	out := map[string]uint64{}
	for name, m := range r.allMaps() {
		v, err := fdinfoField(m.FD(), "memlock")
		if err != nil {
			return nil, fmt.Errorf("map %s: %w", name, err)
		}
		out[name] = v
	}
	return out, nil
}

func fdinfoField(fd int, field string) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/self/fdinfo/%d", fd))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == field {
			return strconv.ParseUint(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in fdinfo", field)
}

// ProgramStat is the kernel's accounting of one program; it only grows
// while kernel.bpf_stats_enabled is 1.
type ProgramStat struct {
	Runs    uint64
	Runtime time.Duration
	Misses  uint64 // runs skipped because another BPF program was running on the CPU
}

// ProgramStats returns run counts and run time by program name.
func (r *Recorder) ProgramStats() (map[string]ProgramStat, error) {
	out := map[string]ProgramStat{}
	for name, p := range r.coll.Programs {
		st, err := p.Stats()
		if err != nil {
			return nil, fmt.Errorf("program %s: %w", name, err)
		}
		out[name] = ProgramStat{Runs: st.RunCount, Runtime: st.Runtime, Misses: st.RecursionMisses}
	}
	return out, nil
}

// MapEntries counts the entries of the error and latency maps.
func (r *Recorder) MapEntries() (errs, latencies int, err error) {
	var ek errKey
	var ev []errVal
	it := r.maps.Errors.Iterate()
	for it.Next(&ek, &ev) {
		errs++
	}
	if err := it.Err(); err != nil {
		return 0, 0, fmt.Errorf("counting error series: %w", err)
	}
	var lk latKey
	var lv []latVal
	it = r.maps.Latencies.Iterate()
	for it.Next(&lk, &lv) {
		latencies++
	}
	if err := it.Err(); err != nil {
		return 0, 0, fmt.Errorf("counting latency series: %w", err)
	}
	return errs, latencies, nil
}

// allMaps is every map of the recorder by name: those Load assigned to
// r.maps (Assign takes them out of the collection) and what the collection
// kept (the global variables' .rodata and .bss).
func (r *Recorder) allMaps() map[string]*ebpf.Map {
	out := map[string]*ebpf.Map{}
	for name, m := range r.coll.Maps {
		out[name] = m
	}
	v := reflect.ValueOf(r.maps)
	for i := 0; i < v.NumField(); i++ {
		if m, ok := v.Field(i).Interface().(*ebpf.Map); ok && m != nil {
			out[v.Type().Field(i).Tag.Get("ebpf")] = m
		}
	}
	return out
}
