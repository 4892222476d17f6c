package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Layout of struct record in recorder.h. TestRecordLayout checks these
// against the BTF of the compiled object.
const (
	RecordSize  = 248
	payloadSize = 128
	// RingChunk is how many records a ring map's value holds (struct
	// record_chunk): ring sizes are multiples of it, and a map's records
	// are rounded up to one.
	RingChunk = 32

	offSeq     = 0
	offEnter   = 8
	offExit    = 16
	offPID     = 24
	offTID     = 28
	offCPU     = 32
	offNr      = 36
	offArgs    = 40
	offRet     = 88
	offComm    = 96
	offLen1    = 112
	offLen2    = 114
	offLayout  = 116
	offPFlags  = 117
	offPayload = 120

	payloadStr2Off  = 64
	payloadArgvOff  = 48
	payloadSABufOff = 112
)

// Record kinds that are not syscalls (Record.Nr < 0): enum event_kind,
// whose negative values bpf2go spells as uint32.
const (
	EventProcessExit = -int32(^recorderEventKindEV_PROCESS_EXIT + 1) // args: exit_code (wait status), Exit* (the thread ends its process?), leader's start time
	EventSignal      = -int32(^recorderEventKindEV_SIGNAL + 1)       // args: signo, si_code, si_errno, si_addr or si_pid, handler
	EventOOMKill     = -int32(^recorderEventKindEV_OOM_KILL + 1)     // args: uid
)

// A process exit record's args[1] (enum exit_kind).
const (
	ExitThread     = uint64(recorderExitKindEXIT_THREAD)      // other threads of the process live on
	ExitGroupDead  = uint64(recorderExitKindEXIT_GROUP_DEAD)  // the thread ended its process
	exitGroupMaybe = uint64(recorderExitKindEXIT_GROUP_MAYBE) // kernels before group_dead: resolved by resolveProcessExits
)

// Payload layouts (struct record.layout).
const (
	layoutNone = iota
	layoutStr
	layoutStr2
	layoutExec
	layoutSockaddr
	layoutBuf
	layoutSockaddrBuf
)

// Payload flags (struct record.pflags).
const (
	pfStr1Trunc = 1 << iota
	pfStr2Trunc
	pfArgvTrunc
	pfBufTrunc
	pfStr1Fault
	pfSetup
	pfLate
)

// Record is one entry of a container's ring, decoded from kernel memory.
type Record struct {
	Seq      uint64 // position in the ring's history, starting at 1
	Finished bool   // the syscall returned (always true for events)
	EnterNs  uint64 // CLOCK_MONOTONIC at entry
	ExitNs   uint64 // CLOCK_MONOTONIC at exit; 0 while unfinished
	PID      uint32 // thread group id (host pid namespace)
	TID      uint32
	CPU      uint32
	Nr       int32 // syscall number, or one of the Event* kinds
	Args     [6]uint64
	Ret      int64
	Comm     string
	// Setup marks what the container runtime did while it set the
	// container up (PF_SETUP): not the application's doing.
	Setup bool
	// Late marks a record written at the syscall's exit because its entry
	// record was overwritten while the call ran (PF_LATE).
	Late bool
	// Incident marks a record the kernel put on the ring's incident tape;
	// FromTape a record read from the tape because the ring no longer
	// holds it.
	Incident, FromTape bool

	Str1, Str2                   []byte
	Str1Truncated, Str2Truncated bool
	Argv                         [][]byte
	ArgvTruncated                bool
	Sockaddr                     []byte
	Buf                          []byte
	BufTruncated                 bool
}

// Duration is ExitNs-EnterNs in nanoseconds, or 0 for an unfinished record.
func (r *Record) Duration() uint64 {
	if !r.Finished || r.ExitNs < r.EnterNs {
		return 0
	}
	return r.ExitNs - r.EnterNs
}

// ParseRecord decodes the raw bytes of one struct record. It never trusts the
// lengths it finds: a garbled record yields an error, not a panic.
func ParseRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < RecordSize {
		return r, fmt.Errorf("record: %d bytes, want %d", len(b), RecordSize)
	}
	bo := binary.NativeEndian // records are in host byte order
	seq := bo.Uint64(b[offSeq:])
	r.Seq = seq >> 1
	r.Finished = seq&1 == 1
	r.EnterNs = bo.Uint64(b[offEnter:])
	r.ExitNs = bo.Uint64(b[offExit:])
	r.PID = bo.Uint32(b[offPID:])
	r.TID = bo.Uint32(b[offTID:])
	r.CPU = bo.Uint32(b[offCPU:])
	r.Nr = int32(bo.Uint32(b[offNr:]))
	for i := range r.Args {
		r.Args[i] = bo.Uint64(b[offArgs+8*i:])
	}
	r.Ret = int64(bo.Uint64(b[offRet:]))
	comm := b[offComm : offComm+16]
	if i := bytes.IndexByte(comm, 0); i >= 0 {
		comm = comm[:i]
	}
	r.Comm = string(comm)

	len1 := int(bo.Uint16(b[offLen1:]))
	len2 := int(bo.Uint16(b[offLen2:]))
	flags := b[offPFlags]
	r.Setup = flags&pfSetup != 0
	r.Late = flags&pfLate != 0
	p := b[offPayload : offPayload+payloadSize]
	region := func(off, max, n int) ([]byte, error) {
		if n > max {
			return nil, fmt.Errorf("record %d: payload length %d exceeds %d", r.Seq, n, max)
		}
		return bytes.Clone(p[off : off+n]), nil
	}
	var err error
	switch b[offLayout] {
	case layoutNone:
	case layoutStr:
		r.Str1, err = region(0, payloadSize, len1)
	case layoutStr2:
		if r.Str1, err = region(0, payloadStr2Off, len1); err == nil {
			r.Str2, err = region(payloadStr2Off, payloadSize-payloadStr2Off, len2)
		}
	case layoutExec:
		var argv []byte
		if r.Str1, err = region(0, payloadArgvOff, len1); err == nil {
			argv, err = region(payloadArgvOff, payloadSize-payloadArgvOff, len2)
		}
		r.Argv = splitArgv(argv)
	case layoutSockaddr:
		r.Sockaddr, err = region(0, payloadSize, len1)
	case layoutBuf:
		r.Buf, err = region(0, payloadSize, len1)
	case layoutSockaddrBuf:
		if r.Sockaddr, err = region(0, payloadSABufOff, len1); err == nil {
			r.Buf, err = region(payloadSABufOff, payloadSize-payloadSABufOff, len2)
		}
	default:
		err = fmt.Errorf("record %d: unknown payload layout %d", r.Seq, b[offLayout])
	}
	if err != nil {
		return Record{}, err
	}
	if flags&pfStr1Fault != 0 {
		r.Str1 = nil // not readable: shown as a pointer
	}
	r.Str1Truncated = flags&pfStr1Trunc != 0
	r.Str2Truncated = flags&pfStr2Trunc != 0
	r.ArgvTruncated = flags&pfArgvTrunc != 0
	r.BufTruncated = flags&pfBufTrunc != 0
	return r, nil
}

// splitArgv splits NUL-terminated strings; a last string without its NUL was cut short.
func splitArgv(b []byte) [][]byte {
	var out [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, 0)
		if i < 0 {
			out = append(out, b)
			break
		}
		out = append(out, b[:i])
		b = b[i+1:]
	}
	return out
}
