package recorder_test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
)

// TestRingLookupsAreInlined checks, in the exporter's programs as the
// running kernel verified them, that no array lookup is a helper call.
// Each array of ring maps (small_rings, large_rings) holds maps of one
// size, so the verifier inlines a lookup in one of them (an index check
// and an add) where it sees maps of only one array. A call to
// bpf_map_lookup_elem is a lookup that saw both (clang merged the two
// sizes' lookups into one), a call to array_map_lookup_elem a lookup in
// maps of several sizes: either costs every recorded syscall a call.
func TestRingLookupsAreInlined(t *testing.T) {
	syms, err := kernelSymbols("__bpf_call_base", "bpf_map_lookup_elem", "array_map_lookup_elem")
	if err != nil {
		t.Fatal(err)
	}
	_, e, _ := setup(t)
	ids, err := programIDs(e.PID())
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			t.Fatalf("program %d: %v", id, err)
		}
		defer p.Close()
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		insns, err := info.Instructions()
		if err != nil {
			t.Fatalf("%s: reading the verified instructions: %v", info.Name, err)
		}
		checked++
		for _, ins := range insns {
			if !ins.IsBuiltinCall() {
				continue
			}
			// The kernel stores a helper call as its offset from __bpf_call_base.
			target := syms["__bpf_call_base"] + uint64(int64(int32(ins.Constant)))
			for _, fn := range []string{"bpf_map_lookup_elem", "array_map_lookup_elem"} {
				if target == syms[fn] {
					t.Errorf("%s: a map lookup calls %s instead of being inlined (%v)", info.Name, fn, ins)
				}
			}
		}
	}
	if checked < 2 {
		t.Fatalf("found %d of the exporter's programs (ids %v), want sys_enter, sys_exit and the others", checked, ids)
	}
}

// programIDs are the BPF programs the process pid holds, by its fds.
func programIDs(pid int) ([]ebpf.ProgramID, error) {
	dir := fmt.Sprintf("/proc/%d/fdinfo", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	seen := map[ebpf.ProgramID]bool{}
	var ids []ebpf.ProgramID
	for _, ent := range entries {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, ent.Name()))
		if err != nil || link != "anon_inode:bpf-prog" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, ent.Name()))
		if err != nil {
			continue // closed meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			v, ok := strings.CutPrefix(line, "prog_id:")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err == nil && !seen[ebpf.ProgramID(id)] {
				seen[ebpf.ProgramID(id)] = true
				ids = append(ids, ebpf.ProgramID(id))
			}
		}
	}
	return ids, nil
}

// kernelSymbols finds the addresses of the kernel functions names in
// /proc/kallsyms (which shows them to root).
func kernelSymbols(names ...string) (map[string]uint64, error) {
	f, err := os.Open("/proc/kallsyms")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	found := map[string]uint64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || !want[fields[2]] {
			continue
		}
		if _, seen := found[fields[2]]; seen {
			continue
		}
		addr, err := strconv.ParseUint(fields[0], 16, 64)
		if err != nil || addr == 0 {
			return nil, fmt.Errorf("/proc/kallsyms hides the address of %s (kptr_restrict?)", fields[2])
		}
		found[fields[2]] = addr
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading /proc/kallsyms: %w", err)
	}
	for _, n := range names {
		if _, ok := found[n]; !ok {
			return nil, fmt.Errorf("no %s in /proc/kallsyms", n)
		}
	}
	return found, nil
}
