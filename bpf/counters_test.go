package bpf

import (
	"encoding/binary"
	"testing"
)

func TestParseErrorSlots(t *testing.T) {
	b := make([]byte, ringMetaSize)
	bo := binary.NativeEndian
	bo.PutUint64(b[offMetaCgroup:], 4242)
	put := func(i int, nr, errno uint32, count, seq, ns uint64) {
		e := b[offMetaErrs+i*errSlotSize:]
		bo.PutUint64(e[offSlotKey:], uint64(nr)<<32|uint64(errno))
		bo.PutUint64(e[offSlotCount:], count)
		bo.PutUint64(e[offSlotLastSeq:], seq)
		bo.PutUint64(e[offSlotLastNs:], ns)
	}
	put(0, 0, 9, 5, 17, 1000) // read EBADF: syscall number 0 is a valid key
	put(3, 257, 2, 0, 0, 0)   // claimed, not counted yet: skipped
	put(7, 257, 13, 2, 40, 2000)

	id, slots := parseErrorSlots(b)
	if id != 4242 {
		t.Fatalf("owner %d, want 4242", id)
	}
	want := []errorSlot{
		{nr: 0, errno: 9, errVal: errVal{Count: 5, LastSeq: 17, LastNs: 1000}},
		{nr: 257, errno: 13, errVal: errVal{Count: 2, LastSeq: 40, LastNs: 2000}},
	}
	if len(slots) != len(want) {
		t.Fatalf("slots %+v, want %+v", slots, want)
	}
	for i := range want {
		if slots[i] != want[i] {
			t.Errorf("slot %d: %+v, want %+v", i, slots[i], want[i])
		}
	}

	bo.PutUint64(b[offMetaCgroup:], 0)
	if id, slots := parseErrorSlots(b); id != 0 || slots != nil {
		t.Errorf("free ring: owner %d, slots %+v; want none", id, slots)
	}
}

func TestErrorCountAddKeepsLatest(t *testing.T) {
	var c ErrorCount
	c.add(errVal{Count: 2, LastSeq: 10, LastNs: 500})
	c.add(errVal{Count: 3, LastSeq: 7, LastNs: 300})
	if c.Count != 5 || c.LastSeq != 10 || c.LastNs != 500 {
		t.Errorf("got %+v, want count 5 with the latest failure (seq 10 at 500)", c)
	}
}
