package dump

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/redact"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Entry is one decoded line of a dump. Its JSON field names are part of the
// documented /dump?format=json output.
type Entry struct {
	Seq         uint64    `json:"seq"`
	Container   string    `json:"container,omitempty"` // in pod dumps
	Time        time.Time `json:"time"`
	MonotonicNs uint64    `json:"monotonic_ns"`
	CPU         uint32    `json:"cpu"`
	PID         uint32    `json:"pid"`
	TID         uint32    `json:"tid"`
	Comm        string    `json:"comm"`
	Kind        string    `json:"kind"` // syscall, exit, signal, oom_kill
	Syscall     string    `json:"syscall"`
	Nr          int32     `json:"nr"`
	Args        [6]uint64 `json:"args"`
	Params      string    `json:"params"`
	Finished    bool      `json:"finished"`
	Ret         *int64    `json:"ret"`   // null while unfinished
	Errno       string    `json:"errno"` // EACCES..., "" on success
	RetText     string    `json:"ret_text"`
	DurationNs  *uint64   `json:"duration_ns"` // null while unfinished
	ExitCode    *int      `json:"exit_code,omitempty"`
	Signal      string    `json:"signal,omitempty"`
	CoreDumped  bool      `json:"core_dumped,omitempty"`
}

// Entry kinds.
const (
	KindSyscall = "syscall"
	KindExit    = "exit"
	KindSignal  = "signal"
	KindOOMKill = "oom_kill"
)

// Clock converts the kernel's CLOCK_MONOTONIC timestamps to wall-clock time.
type Clock struct{ offset int64 }

// NewClock samples both clocks now.
func NewClock() Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return Clock{offset: time.Now().UnixNano() - ts.Nano()}
}

// Wall returns the wall-clock time of a monotonic timestamp.
func (c Clock) Wall(monoNs uint64) time.Time {
	return time.Unix(0, int64(monoNs)+c.offset).UTC()
}

// Decode turns a raw record into an Entry.
func Decode(arch syscalls.Arch, clock Clock, r *bpf.Record) Entry {
	e := Entry{
		Seq: r.Seq, Time: clock.Wall(r.EnterNs), MonotonicNs: r.EnterNs,
		CPU: r.CPU, PID: r.PID, TID: r.TID, Comm: r.Comm, Nr: r.Nr, Args: r.Args,
		Finished: r.Finished,
	}
	switch r.Nr {
	case bpf.EventProcessExit:
		e.Kind, e.Syscall = KindExit, "+++"
		status := int(r.Args[0])
		if sig := status & 0x7f; sig != 0 {
			e.Signal = syscalls.SignalName(sig)
			e.CoreDumped = status&0x80 != 0
			e.Params = "killed by " + e.Signal
			if e.CoreDumped {
				e.Params += " (core dumped)"
			}
		} else {
			code := (status >> 8) & 0xff
			e.ExitCode = &code
			e.Params = fmt.Sprintf("exited with %d", code)
		}
		if r.Args[1] == bpf.ExitThread {
			e.Params = "thread " + e.Params
		}
		return e
	case bpf.EventSignal:
		e.Kind, e.Syscall = KindSignal, "---"
		sig := int(r.Args[0])
		e.Signal = syscalls.SignalName(sig)
		code := int(int32(r.Args[1]))
		action := ""
		switch r.Args[4] {
		case 0:
			action = " (default action)"
		case 1:
			action = " (ignored)"
		}
		switch sig {
		case 4, 7, 8, 11: // SIGILL, SIGBUS, SIGFPE, SIGSEGV carry the faulting address
			e.Params = fmt.Sprintf("%s {si_signo=%s, si_code=%s, si_addr=%#x}%s",
				e.Signal, e.Signal, syscalls.SigCodeName(sig, code), r.Args[3], action)
		default:
			e.Params = fmt.Sprintf("%s {si_signo=%s, si_code=%s, si_pid=%d}%s",
				e.Signal, e.Signal, syscalls.SigCodeName(sig, code), uint32(r.Args[3]), action)
		}
		return e
	case bpf.EventOOMKill:
		e.Kind, e.Syscall = KindOOMKill, "+++"
		e.Params = "chosen by the OOM killer"
		return e
	}
	e.Kind = KindSyscall
	call := syscalls.Call{
		Nr: int(r.Nr), Args: r.Args, Ret: r.Ret, Finished: r.Finished,
		Str1: r.Str1, Str2: r.Str2, Str1Truncated: r.Str1Truncated, Str2Truncated: r.Str2Truncated,
		Argv: r.Argv, ArgvTruncated: r.ArgvTruncated, Sockaddr: r.Sockaddr,
		Buf: r.Buf, BufTruncated: r.BufTruncated,
	}
	e.Syscall, e.Params, e.RetText = arch.Format(&call)
	if r.Finished {
		ret := r.Ret
		e.Ret = &ret
		d := r.Duration()
		e.DurationNs = &d
		if syscalls.IsErrno(ret) {
			e.Errno = syscalls.ErrnoName(int(-ret))
		}
	}
	return e
}

// Redacted returns r, or a copy of it with the secrets in its captured
// strings, argv and buffer replaced; r itself is never changed (frozen rings
// share their records).
func Redacted(red *redact.Redactor, r *bpf.Record) *bpf.Record {
	if red == nil {
		return r
	}
	c := *r
	c.Str1, c.Str2, c.Buf = red.Bytes(r.Str1), red.Bytes(r.Str2), red.Bytes(r.Buf)
	c.Argv = red.Argv(r.Argv)
	return &c
}

// Failed reports whether the entry is a syscall that returned an error.
func (e *Entry) Failed() bool {
	return e.Kind == KindSyscall && e.Ret != nil && syscalls.IsErrno(*e.Ret)
}
