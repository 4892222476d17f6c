package bpf

import (
	"bytes"
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

// ReadPinnedRecords copies every written slot (non-zero seq) of the
// records map pinned under pinPath by a running or earlier exporter, with
// the raw payload area, so that tests can check what the kernel copied
// into memory rather than what /dump shows. It does not follow the
// seqlock: callers read quiescent rings.
func ReadPinnedRecords(pinPath string) ([]RawRecord, error) {
	m, err := ebpf.LoadPinnedMap(filepath.Join(pinPath, recorderMapRecords), nil)
	if err != nil {
		return nil, fmt.Errorf("opening the pinned records map: %w", err)
	}
	defer m.Close()
	mem, err := m.Memory()
	if err != nil {
		return nil, fmt.Errorf("mapping the pinned records map: %w", err)
	}
	all := make([]byte, mem.Size())
	if _, err := mem.ReadAt(all, 0); err != nil {
		return nil, fmt.Errorf("reading the pinned records map: %w", err)
	}
	var out []RawRecord
	zero := make([]byte, 8)
	for off := 0; off+RecordSize <= len(all); off += RecordSize {
		b := all[off : off+RecordSize]
		if bytes.Equal(b[offSeq:offSeq+8], zero) {
			continue
		}
		rec, err := ParseRecord(b)
		out = append(out, RawRecord{Record: rec, Payload: bytes.Clone(b[offPayload : offPayload+payloadSize]), ParseErr: err})
	}
	return out, nil
}
