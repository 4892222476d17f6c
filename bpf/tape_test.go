package bpf

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// TestIncidentCopyMovesWords checks, in the compiled object, that
// copy_run (put_incident's copy) copies records by words: copied through
// void pointers, clang moved them byte by byte, 480 instructions a record,
// and that alone doubled what an incident with its context cost
// (test/bench measures it).
func TestIncidentCopyMovesWords(t *testing.T) {
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	body := function(spec, "copy_run")
	if body == nil {
		t.Fatal("no copy_run in any program")
	}
	bytes, words, lookups := 0, 0, 0
	for _, ins := range body {
		switch {
		case ins.OpCode.Class().IsStore() && ins.OpCode.Size() == asm.Byte:
			bytes++
		case ins.OpCode.Class().IsStore() && ins.OpCode.Size() == asm.DWord:
			words++
		case ins.IsBuiltinCall() && asm.BuiltinFunc(ins.Constant) == asm.FnMapLookupElem:
			lookups++
		}
	}
	if bytes > 0 {
		t.Errorf("copy_run stores %d single bytes: a record copy went byte-wise", bytes)
	}
	if want := (RecordSize - 8) / 8; words < want {
		t.Errorf("copy_run stores %d words, fewer than one record's %d: is the copy still there?", words, want)
	}
	t.Logf("copy_run: %d instructions, %d word stores, %d map lookup calls", len(body), words, lookups)
}

// function is the instructions of the BPF function name, as the first
// program that calls it holds them.
func function(spec *ebpf.CollectionSpec, name string) asm.Instructions {
	for _, p := range spec.Programs {
		insns := p.Instructions
		for i, ins := range insns {
			if ins.Symbol() != name {
				continue
			}
			body := insns[i:]
			for j := 1; j < len(body); j++ {
				if body[j].Symbol() != "" {
					return body[:j]
				}
			}
			return body
		}
	}
	return nil
}

// maxVerifiedInsns is how many instructions the verifier of this kernel
// may walk to verify a program: a sixth of the limit of a million. Older
// verifiers walk several times more for the same program (a put_incident
// that this kernel verified in 188,000 passed the million on Linux 6.1),
// and test/kernels, which finds that, runs long after this does.
const maxVerifiedInsns = 1_000_000 / 6

// TestProgramsVerifyWithRoomToSpare loads every program with the
// verifier's statistics and checks how much of its budget each took.
func TestProgramsVerifyWithRoomToSpare(t *testing.T) {
	testenv.RequireRoot(t)
	coll := loadForInspection(t, ebpf.LogLevelStats)
	processed := regexp.MustCompile(`processed (\d+) insns`)
	for name, p := range coll.Programs {
		m := processed.FindStringSubmatch(p.VerifierLog)
		if m == nil {
			t.Errorf("%s: no statistics in the verifier's log:\n%s", name, p.VerifierLog)
			continue
		}
		n, _ := strconv.Atoi(m[1])
		if n > maxVerifiedInsns {
			t.Errorf("%s: the verifier walked %d instructions, more than %d", name, n, maxVerifiedInsns)
		}
		t.Logf("%s: %d instructions verified", name, n)
	}
}

// TestRingLookupsAreInlined checks, in the programs as the kernel runs
// them, that no array lookup is a helper call. Each array of ring maps
// holds maps of one size, so the verifier inlines a lookup in one of them
// (an index check and an add) where it sees maps of only one array. A call
// to bpf_map_lookup_elem is a lookup that saw both (clang merged the two
// sizes' lookups into one), a call to array_map_lookup_elem one in maps of
// several sizes: either costs every recorded syscall a call.
func TestRingLookupsAreInlined(t *testing.T) {
	testenv.RequireRoot(t)
	syms, err := kernelSymbols("__bpf_call_base", "bpf_map_lookup_elem", "array_map_lookup_elem")
	if err != nil {
		t.Fatal(err)
	}
	coll := loadForInspection(t, 0)
	for name, p := range coll.Programs {
		info, err := p.Info()
		if err != nil {
			t.Fatal(err)
		}
		insns, err := info.Instructions()
		if err != nil {
			t.Fatalf("%s: reading the verified instructions: %v", name, err)
		}
		calls := 0
		for _, ins := range insns {
			if !ins.IsBuiltinCall() {
				continue
			}
			calls++
			// The kernel stores a helper call as its offset from __bpf_call_base.
			target := syms["__bpf_call_base"] + uint64(int64(int32(ins.Constant)))
			for _, fn := range []string{"bpf_map_lookup_elem", "array_map_lookup_elem"} {
				if target == syms[fn] {
					t.Errorf("%s: a map lookup calls %s instead of being inlined: %v", name, fn, ins)
				}
			}
		}
		if calls == 0 {
			t.Errorf("%s: no helper calls among %d verified instructions: are they read right?", name, len(insns))
		}
	}
}

// loadForInspection loads every program, the maps at their smallest, to
// inspect what the verifier made of them.
func loadForInspection(t *testing.T, level ebpf.LogLevel) *ebpf.Collection {
	t.Helper()
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps[recorderMapSmallRings].MaxEntries = 1
	spec.Maps[recorderMapLargeRings].MaxEntries = 1
	opts := ebpf.CollectionOptions{}
	if level != 0 {
		opts.Programs = ebpf.ProgramOptions{LogLevel: level, LogSizeStart: 1 << 16}
	}
	coll, err := ebpf.NewCollectionWithOptions(spec, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coll.Close)
	return coll
}

// kernelSymbols finds the addresses of the kernel's functions names in
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
