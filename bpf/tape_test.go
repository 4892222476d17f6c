package bpf

import (
	"regexp"
	"strconv"
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
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	spec.Maps[recorderMapSmallRings].MaxEntries = 1
	spec.Maps[recorderMapLargeRings].MaxEntries = 1
	coll, err := ebpf.NewCollectionWithOptions(spec, ebpf.CollectionOptions{
		Programs: ebpf.ProgramOptions{LogLevel: ebpf.LogLevelStats, LogSizeStart: 1 << 16}})
	if err != nil {
		t.Fatal(err)
	}
	defer coll.Close()
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
