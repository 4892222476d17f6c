package bpf

import (
	"testing"

	"github.com/cilium/ebpf/asm"
)

// TestIncidentCopyMovesWords checks, in the compiled object, that
// put_incident copies records by words: copied through void pointers,
// clang moved them byte by byte, 480 instructions a record, and that alone
// doubled what an incident with its context cost (test/bench measures it).
func TestIncidentCopyMovesWords(t *testing.T) {
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	var body asm.Instructions
	for _, p := range spec.Programs {
		insns := p.Instructions
		for i, ins := range insns {
			if ins.Symbol() != "put_incident" {
				continue
			}
			body = insns[i:]
			for j := 1; j < len(body); j++ {
				if body[j].Symbol() != "" {
					body = body[:j]
					break
				}
			}
			break
		}
		if body != nil {
			break
		}
	}
	if body == nil {
		t.Fatal("no put_incident in any program")
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
		t.Errorf("put_incident stores %d single bytes: a record copy went byte-wise", bytes)
	}
	if want := (RecordSize - 8) / 8; words < want {
		t.Errorf("put_incident stores %d words, fewer than one record's %d: is the copy still there?", words, want)
	}
	t.Logf("put_incident: %d instructions, %d word stores, %d map lookup calls", len(body), words, lookups)
}
