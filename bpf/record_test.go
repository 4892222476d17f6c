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
	check("record_chunk", RingChunk*RecordSize, map[string]int{"r": 0})
	check("record", RecordSize, map[string]int{
		"seq": offSeq, "ts_enter": offEnter, "ts_exit": offExit, "pid": offPID, "tid": offTID,
		"cpu": offCPU, "nr": offNr, "args": offArgs, "ret": offRet, "comm": offComm,
		"len1": offLen1, "len2": offLen2, "layout": offLayout, "pflags": offPFlags, "payload": offPayload,
	})
	check("ring_meta", uint32(ringMetaSize), map[string]int{
		"cgroup_id": offMetaCgroup, "head": offMetaHead, "exit_lost": offMetaExitLost, "created_ns": offMetaCreatedNs,
		"setup": offMetaSetup, "main_pid": offMetaMainPID, "app_seq": offMetaAppSeq, "main_status": offMetaMainStatus,
		"main_flags": offMetaMainFlags, "errs": offMetaErrs,
	})
	check("err_slot", uint32(errSlotSize), map[string]int{
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
	payload := func(parts map[int]string) []byte {
		p := make([]byte, payloadSize)
		for off, v := range parts {
			copy(p[off:], v)
		}
		return p
	}
	for _, r := range []rawRecord{
		{seq: 3, len1: 5, layout: layoutStr, payload: []byte("/etc/")},
		{seq: 7<<1 | 1, enter: 10, exit: 20, nr: 257, args: [6]uint64{1<<64 - 100, 1, 0o1101, 0o666}, ret: -13, comm: "sh",
			len1: 11, layout: layoutStr, pflags: pfStr1Trunc, payload: []byte("/etc/passwd")},
		{seq: 9, nr: 82, len1: 2, len2: 4, layout: layoutStr2, payload: payload(map[int]string{0: "/a", payloadStr2Off: "/b/c"})},
		{seq: 11, nr: 59, len1: 7, len2: 10, layout: layoutExec, pflags: pfArgvTrunc, comm: "bash",
			payload: payload(map[int]string{0: "/bin/ls", payloadArgvOff: "ls\x00-l\x00/tm"})},
		{seq: 13, nr: 42, ret: -111, len1: 16, layout: layoutSockaddr, payload: []byte("\x02\x00\x1f\x90\x7f\x00\x00\x01")},
		{seq: 15, nr: 1, args: [6]uint64{1, 0, 64}, ret: 64, len1: 64, layout: layoutBuf, pflags: pfBufTrunc, payload: bytes.Repeat([]byte("x"), 64)},
		{seq: 17, nr: 44, len1: 16, len2: 5, layout: layoutSockaddrBuf,
			payload: payload(map[int]string{0: "\x02\x00\x00\x35\x08\x08\x08\x08", payloadSABufOff: "query"})},
		{seq: 19, nr: 257, len1: 0, layout: layoutStr, pflags: pfStr1Fault},
		{seq: 21, nr: EventProcessExit, args: [6]uint64{1 << 8, 1}},
		{seq: 23, nr: EventSignal, args: [6]uint64{11, 1, 0, 0x10}},
		{seq: 25, nr: EventOOMKill, args: [6]uint64{1000}, comm: "stress-ng-vm"},
		{seq: 27, len1: payloadStr2Off + 1, len2: 1, layout: layoutStr2},               // first string too long
		{seq: 29, len1: 1, len2: payloadSize - payloadArgvOff + 1, layout: layoutExec}, // argv too long
		{seq: 31, layout: 42},
	} {
		f.Add(r.bytes())
	}
	f.Add(bytes.Repeat([]byte{0xff}, RecordSize))
	f.Add(make([]byte, RecordSize-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRecord(b)
		if len(b) < RecordSize {
			if err == nil {
				t.Fatalf("%d-byte record accepted", len(b))
			}
			return
		}
		// An independent reading of struct record: what ParseRecord must
		// return, or that it must refuse.
		bo := binary.NativeEndian
		p := b[offPayload : offPayload+payloadSize]
		len1, len2 := int(bo.Uint16(b[offLen1:])), int(bo.Uint16(b[offLen2:]))
		type region struct {
			off, max, n int
		}
		var want [2]*region // first and second region of the layout
		switch b[offLayout] {
		case layoutNone:
		case layoutStr, layoutSockaddr, layoutBuf:
			want[0] = &region{0, payloadSize, len1}
		case layoutStr2:
			want[0], want[1] = &region{0, payloadStr2Off, len1}, &region{payloadStr2Off, payloadSize - payloadStr2Off, len2}
		case layoutExec:
			want[0], want[1] = &region{0, payloadArgvOff, len1}, &region{payloadArgvOff, payloadSize - payloadArgvOff, len2}
		case layoutSockaddrBuf:
			want[0], want[1] = &region{0, payloadSABufOff, len1}, &region{payloadSABufOff, payloadSize - payloadSABufOff, len2}
		default:
			if err == nil {
				t.Fatalf("unknown layout %d accepted", b[offLayout])
			}
			return
		}
		valid := true
		for _, w := range want {
			if w != nil && w.n > w.max {
				valid = false
			}
		}
		if valid != (err == nil) {
			t.Fatalf("layout %d lengths %d/%d: error %v, want valid=%v", b[offLayout], len1, len2, err, valid)
		}
		if err != nil {
			return
		}
		seq := bo.Uint64(b[offSeq:])
		if r.Seq != seq>>1 || r.Finished != (seq&1 == 1) || r.EnterNs != bo.Uint64(b[offEnter:]) || r.ExitNs != bo.Uint64(b[offExit:]) ||
			r.PID != bo.Uint32(b[offPID:]) || r.TID != bo.Uint32(b[offTID:]) || r.CPU != bo.Uint32(b[offCPU:]) ||
			r.Nr != int32(bo.Uint32(b[offNr:])) || r.Ret != int64(bo.Uint64(b[offRet:])) {
			t.Fatalf("fixed fields decoded as %+v", r)
		}
		for i := range r.Args {
			if r.Args[i] != bo.Uint64(b[offArgs+8*i:]) {
				t.Fatalf("args[%d] = %#x", i, r.Args[i])
			}
		}
		comm, _, _ := bytes.Cut(b[offComm:offComm+16], []byte{0})
		if r.Comm != string(comm) {
			t.Fatalf("comm %q, want %q", r.Comm, comm)
		}
		got := func(w *region) []byte {
			if w == nil {
				return nil
			}
			return p[w.off : w.off+w.n]
		}
		first, second := got(want[0]), got(want[1])
		check := func(what string, have, want []byte) {
			t.Helper()
			if !bytes.Equal(have, want) {
				t.Fatalf("%s = %q, want %q", what, have, want)
			}
		}
		flags := b[offPFlags]
		switch b[offLayout] {
		case layoutStr:
			if flags&pfStr1Fault != 0 {
				first = nil
			}
			check("str1", r.Str1, first)
		case layoutStr2:
			if flags&pfStr1Fault != 0 {
				first = nil
			}
			check("str1", r.Str1, first)
			check("str2", r.Str2, second)
		case layoutExec:
			if flags&pfStr1Fault != 0 {
				first = nil
			}
			check("path", r.Str1, first)
			check("argv", bytes.Join(r.Argv, []byte{0}), bytes.TrimSuffix(second, []byte{0}))
		case layoutSockaddr:
			check("sockaddr", r.Sockaddr, first)
		case layoutBuf:
			check("buf", r.Buf, first)
		case layoutSockaddrBuf:
			check("sockaddr", r.Sockaddr, first)
			check("buf", r.Buf, second)
		}
		if r.Str1Truncated != (flags&pfStr1Trunc != 0) || r.Str2Truncated != (flags&pfStr2Trunc != 0) ||
			r.ArgvTruncated != (flags&pfArgvTrunc != 0) || r.BufTruncated != (flags&pfBufTrunc != 0) {
			t.Fatalf("flags %#x decoded as %+v", flags, r)
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
