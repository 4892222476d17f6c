package bpf

import (
	"bytes"
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/cilium/ebpf/btf"
)

// TestRecordLayout checks the offsets record.go and ring.go use against the
// BTF of the compiled object, so that a change to recorder.h cannot go
// unnoticed.
func TestRecordLayout(t *testing.T) {
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	check := func(name string, size uint32, offsets map[string]int) {
		t.Helper()
		var s *btf.Struct
		if err := spec.Types.TypeByName(name, &s); err != nil {
			t.Fatalf("struct %s: %v", name, err)
		}
		if s.Size != size {
			t.Errorf("sizeof(struct %s) = %d, Go assumes %d", name, s.Size, size)
		}
		seen := map[string]bool{}
		for _, m := range s.Members {
			seen[m.Name] = true
			if want, ok := offsets[m.Name]; ok && int(m.Offset.Bytes()) != want {
				t.Errorf("%s.%s at %d, Go assumes %d", name, m.Name, m.Offset.Bytes(), want)
			}
		}
		for f := range offsets {
			if !seen[f] {
				t.Errorf("%s has no field %s", name, f)
			}
		}
	}
	check("record", RecordSize, map[string]int{
		"seq": offSeq, "ts_enter": offEnter, "ts_exit": offExit, "pid": offPID, "tid": offTID,
		"cpu": offCPU, "nr": offNr, "args": offArgs, "ret": offRet, "comm": offComm,
		"len1": offLen1, "len2": offLen2, "layout": offLayout, "pflags": offPFlags, "payload": offPayload,
	})
	check("ring_meta", ringMetaSize, map[string]int{
		"cgroup_id": offMetaCgroup, "head": offMetaHead, "exit_lost": offMetaExitLost, "created_ns": offMetaCreatedNs,
		"errs": offMetaErrs,
	})
	check("err_slot", errSlotSize, map[string]int{
		"key": offSlotKey, "count": offSlotCount, "last_seq": offSlotLastSeq, "last_ns": offSlotLastNs,
	})
}

type rawRecord struct {
	seq, enter, exit uint64
	nr               int32
	args             [6]uint64
	ret              int64
	comm             string
	len1, len2       uint16
	layout, pflags   uint8
	payload          []byte
}

func (r rawRecord) bytes() []byte {
	b := make([]byte, RecordSize)
	bo := binary.NativeEndian
	bo.PutUint64(b[offSeq:], r.seq)
	bo.PutUint64(b[offEnter:], r.enter)
	bo.PutUint64(b[offExit:], r.exit)
	bo.PutUint32(b[offPID:], 10)
	bo.PutUint32(b[offTID:], 11)
	bo.PutUint32(b[offCPU:], 1)
	bo.PutUint32(b[offNr:], uint32(r.nr))
	for i, a := range r.args {
		bo.PutUint64(b[offArgs+8*i:], a)
	}
	bo.PutUint64(b[offRet:], uint64(r.ret))
	copy(b[offComm:offComm+16], r.comm)
	bo.PutUint16(b[offLen1:], r.len1)
	bo.PutUint16(b[offLen2:], r.len2)
	b[offLayout] = r.layout
	b[offPFlags] = r.pflags
	copy(b[offPayload:], r.payload)
	return b
}

func TestParseRecord(t *testing.T) {
	exec := make([]byte, payloadSize)
	copy(exec, "/bin/ls")
	copy(exec[payloadArgvOff:], "ls\x00-l\x00/tm")
	rename := make([]byte, payloadSize)
	copy(rename, "/a")
	copy(rename[payloadStr2Off:], "/b/c")
	sabuf := make([]byte, payloadSize)
	copy(sabuf, "\x02\x00\x01\xbb\x0a\x60\x00\x01")
	copy(sabuf[payloadSABufOff:], "GET /")

	for _, c := range []struct {
		name  string
		raw   rawRecord
		check func(t *testing.T, r Record)
		err   bool
	}{
		{"finished with path", rawRecord{seq: 7<<1 | 1, enter: 100, exit: 350, nr: 257, ret: -13, comm: "sh", len1: 11, layout: layoutStr, payload: []byte("/etc/passwd")},
			func(t *testing.T, r Record) {
				if r.Seq != 7 || !r.Finished || r.Duration() != 250 || string(r.Str1) != "/etc/passwd" || r.Comm != "sh" || r.Ret != -13 {
					t.Errorf("got %+v", r)
				}
			}, false},
		{"unfinished", rawRecord{seq: 8 << 1, enter: 100, nr: 202},
			func(t *testing.T, r Record) {
				if r.Finished || r.Duration() != 0 {
					t.Errorf("got %+v", r)
				}
			}, false},
		{"exec argv cut short", rawRecord{seq: 2, len1: 7, len2: 9, layout: layoutExec, pflags: pfArgvTrunc, payload: exec},
			func(t *testing.T, r Record) {
				if string(r.Str1) != "/bin/ls" || len(r.Argv) != 3 || string(r.Argv[2]) != "/tm" || !r.ArgvTruncated {
					t.Errorf("got %q %q", r.Str1, r.Argv)
				}
			}, false},
		{"two paths", rawRecord{seq: 2, len1: 2, len2: 4, layout: layoutStr2, payload: rename},
			func(t *testing.T, r Record) {
				if string(r.Str1) != "/a" || string(r.Str2) != "/b/c" {
					t.Errorf("got %q %q", r.Str1, r.Str2)
				}
			}, false},
		{"sockaddr and buffer", rawRecord{seq: 2, len1: 8, len2: 5, layout: layoutSockaddrBuf, pflags: pfBufTrunc, payload: sabuf},
			func(t *testing.T, r Record) {
				if len(r.Sockaddr) != 8 || string(r.Buf) != "GET /" || !r.BufTruncated {
					t.Errorf("got %q %q", r.Sockaddr, r.Buf)
				}
			}, false},
		{"unreadable path", rawRecord{seq: 2, layout: layoutStr, pflags: pfStr1Fault},
			func(t *testing.T, r Record) {
				if r.Str1 != nil {
					t.Errorf("got %q", r.Str1)
				}
			}, false},
		{"length beyond its region", rawRecord{seq: 2, len1: 70, layout: layoutStr2}, nil, true},
		{"length beyond the payload", rawRecord{seq: 2, len1: 300, layout: layoutBuf}, nil, true},
		{"unknown layout", rawRecord{seq: 2, layout: 99}, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseRecord(c.raw.bytes())
			if (err != nil) != c.err {
				t.Fatalf("err = %v, want error %v", err, c.err)
			}
			if c.check != nil {
				c.check(t, r)
			}
		})
	}
	if _, err := ParseRecord(make([]byte, 10)); err == nil {
		t.Error("short record accepted")
	}
}

func FuzzParseRecord(f *testing.F) {
	f.Add(rawRecord{seq: 3, len1: 5, layout: layoutStr, payload: []byte("/etc/")}.bytes())
	f.Add(rawRecord{seq: 3, len1: 5, len2: 40, layout: layoutExec}.bytes())
	f.Add(bytes.Repeat([]byte{0xff}, RecordSize))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if err != nil {
			return
		}
		total := len(r.Str1) + len(r.Str2) + len(r.Sockaddr) + len(r.Buf)
		for _, a := range r.Argv {
			total += len(a)
		}
		if total > payloadSize || len(r.Comm) > 16 {
			t.Fatalf("decoded %d payload bytes from a %d-byte payload", total, payloadSize)
		}
	})
}

// The constants recorder.h defines with #define (they do not fit an enum)
// and Go mirrors: a change on one side fails here.
func TestHeaderDefinesMatch(t *testing.T) {
	h, err := os.ReadFile("recorder.h")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]uint64{"ARG_NONE": argNone, "SLOT_UNTRACKED": slotUntracked, "RECORD_SIZE": RecordSize} {
		m := regexp.MustCompile(`(?m)^#define ` + name + `\s+(\S+)`).FindSubmatch(h)
		if m == nil {
			t.Errorf("recorder.h defines no %s", name)
			continue
		}
		got, err := strconv.ParseUint(string(m[1]), 0, 64)
		if err != nil || got != want {
			t.Errorf("recorder.h: %s = %s, Go has %#x", name, m[1], want)
		}
	}
}
