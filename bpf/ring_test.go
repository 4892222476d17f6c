package bpf

import (
	"encoding/binary"
	"testing"
)

// seqlockMem is one record slot whose seq field a simulated writer changes:
// the i-th 8-byte load of seq returns loads[i] (the last one from then on),
// and a full copy returns the record as the writer left it at that moment,
// with the payload of the turn whose seq was loaded last.
type seqlockMem struct {
	loads []uint64
	n     int
	turns map[uint64][]byte // seq>>1 → the record the writer wrote then
	cur   uint64
}

func (m *seqlockMem) ReadAt(p []byte, off int64) (int, error) {
	if len(p) == 8 {
		m.cur = m.loads[min(m.n, len(m.loads)-1)]
		m.n++
		binary.NativeEndian.PutUint64(p, m.cur)
		return 8, nil
	}
	rec, ok := m.turns[m.cur>>1]
	if !ok {
		rec = make([]byte, RecordSize) // being written: not yet filled
	}
	copy(p, rec)
	binary.NativeEndian.PutUint64(p[offSeq:], m.cur)
	return len(p), nil
}

func TestReadRecordSeqlock(t *testing.T) {
	const seq = 5
	turn := func(n uint64, path string) []byte {
		return rawRecord{seq: n<<1 | 1, enter: 100 * n, exit: 100*n + 1, len1: uint16(len(path)), layout: layoutStr, payload: []byte(path)}.bytes()
	}
	turns := map[uint64][]byte{seq: turn(seq, "/mine"), seq + 1024: turn(seq+1024, "/newer")}
	for _, c := range []struct {
		name     string
		loads    []uint64
		ok       bool
		finished bool
	}{
		{"stable", []uint64{seq<<1 | 1}, true, true},
		{"published unfinished", []uint64{seq << 1}, true, false},
		{"finished between the loads, then stable", []uint64{seq << 1, seq<<1 | 1, seq<<1 | 1}, true, true},
		{"overwritten between the loads", []uint64{seq<<1 | 1, (seq + 1024) << 1, (seq + 1024) << 1}, false, false},
		{"rewritten between the loads on every try", []uint64{seq<<1 | 1, 0, seq<<1 | 1, 0, seq<<1 | 1, 0, seq<<1 | 1, 0, seq<<1 | 1}, false, false},
		{"already newer", []uint64{(seq+1024)<<1 | 1}, false, false},
		{"reserved and never published", []uint64{0}, false, false},
		{"older turn still there", []uint64{(seq - 1) << 1}, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			mem := &seqlockMem{loads: c.loads, turns: turns}
			rec, ok := readRecordAt(mem, 0, seq, make([]byte, RecordSize))
			if ok != c.ok {
				t.Fatalf("ok = %v, want %v (record %+v)", ok, c.ok, rec)
			}
			if !ok {
				if rec.Seq != 0 || rec.Str1 != nil || rec.EnterNs != 0 {
					t.Errorf("a torn read returned a record: %+v", rec)
				}
				return
			}
			if rec.Seq != seq || string(rec.Str1) != "/mine" || rec.EnterNs != 100*seq || rec.Finished != c.finished {
				t.Errorf("record %+v: want seq %d, /mine, enter %d, finished %v", rec, seq, 100*seq, c.finished)
			}
		})
	}
}

func TestReadRangeCountsTorn(t *testing.T) {
	torn := map[uint64]bool{3: true, 4: true, 9: true}
	recs, n := readRange(2, 10, func(seq uint64, buf []byte) (Record, bool) {
		if torn[seq] {
			return Record{}, false
		}
		return Record{Seq: seq}, true
	})
	if n != 3 || len(recs) != 6 {
		t.Fatalf("%d records, %d torn; want 6 and 3", len(recs), n)
	}
	want := []uint64{2, 5, 6, 7, 8, 10}
	for i, r := range recs {
		if r.Seq != want[i] {
			t.Errorf("record %d has seq %d, want %d", i, r.Seq, want[i])
		}
	}
}
