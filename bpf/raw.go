package bpf

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/cilium/ebpf"
)

// RawRecord is one slot of the records map as the kernel left it.
type RawRecord struct {
	Record  Record // decoded; the zero Record when ParseErr is set
	Payload []byte // the whole payload area, including bytes beyond the captured lengths
	// ParseErr is why the slot could not be decoded.
	ParseErr error
}

// ReadPinnedRecords copies every written slot (non-zero seq) of the ring
// maps pinned under pinPath by a running or earlier exporter (rings and
// their incident tapes), with the raw payload area, so that tests can check
// what the kernel copied into memory rather than what /dump shows. It does
// not follow the seqlock: callers read quiescent rings.
func ReadPinnedRecords(pinPath string) ([]RawRecord, error) {
	var out []RawRecord
	for _, name := range []string{recorderMapSmallRings, recorderMapLargeRings} {
		outer, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, name), nil)
		if err != nil {
			return nil, fmt.Errorf("opening the pinned ring maps: %w", err)
		}
		out, err = appendPinnedArray(out, outer)
		_ = outer.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return out, nil
}

// appendPinnedArray appends the written records of every map in the
// array of ring maps outer to out.
func appendPinnedArray(out []RawRecord, outer *ebpf.Map) ([]RawRecord, error) {
	for key := uint32(0); key < outer.MaxEntries(); key++ {
		var m *ebpf.Map
		if err := outer.Lookup(key, &m); err != nil {
			if errors.Is(err, ebpf.ErrKeyNotExist) {
				continue
			}
			return nil, fmt.Errorf("finding ring map %d: %w", key, err)
		}
		rm, err := mapRing(m)
		if err != nil {
			return nil, err
		}
		out = appendRaw(out, rm.mem)
		rm.close()
	}
	return out, nil
}

// appendRaw appends the written records of a ring map's memory to out.
func appendRaw(out []RawRecord, all []byte) []RawRecord {
	zero := make([]byte, 8)
	for off := 0; off+RecordSize <= len(all); off += RecordSize {
		b := all[off : off+RecordSize]
		if bytes.Equal(b[offSeq:offSeq+8], zero) {
			continue
		}
		rec, err := ParseRecord(b)
		out = append(out, RawRecord{Record: rec, Payload: bytes.Clone(b[offPayload : offPayload+payloadSize]), ParseErr: err})
	}
	return out
}
