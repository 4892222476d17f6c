package dump

import (
	"fmt"
	"time"

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
	// Phase is "runtime" for what the container runtime did while it set
	// the container up, "app" for the rest.
	Phase string `json:"phase"`
	// AppStarts marks the first entry shown after the runtime's setup:
	// the text dump prints a line above it.
	AppStarts bool `json:"app_starts,omitempty"`
	// Source is "ring", or "tape" for a record the ring no longer holds,
	// kept on the container's incident tape; Incident marks the incidents
	// themselves (notable failures, bad exits, fatal signals, OOM kills).
	Source   string `json:"source"`
	Incident bool   `json:"incident,omitempty"`
	// Late marks a call recorded at its exit, its entry record having been
	// overwritten while it ran (an incident must not be lost with it).
	Late bool `json:"late,omitempty"`
	// NotKeptBefore counts the records of this ring between the previous
	// entry kept and this one that are kept nowhere (overwritten, not on
	// the tape). Entries a filter leaves out are not counted.
	NotKeptBefore uint64    `json:"not_kept_before,omitempty"`
	Syscall       string    `json:"syscall"`
	Nr            int32     `json:"nr"`
	Args          [6]uint64 `json:"args"`
	Params        string    `json:"params"`
	Finished      bool      `json:"finished"`
	Ret           *int64    `json:"ret"`   // null while unfinished
	Errno         string    `json:"errno"` // EACCES..., "" on success
	RetText       string    `json:"ret_text"`
	DurationNs    *uint64   `json:"duration_ns"` // null while unfinished
	ExitCode      *int      `json:"exit_code,omitempty"`
	Signal        string    `json:"signal,omitempty"`
	CoreDumped    bool      `json:"core_dumped,omitempty"`
}

// Entry sources.
const (
	SourceRing = "ring"
	SourceTape = "tape"
)

// Entry phases.
const (
	PhaseRuntime = "runtime"
	PhaseApp     = "app"
)

// Entry kinds.
const (
	KindSyscall = "syscall"
	KindExit    = "exit"
	KindSignal  = "signal"
	KindOOMKill = "oom_kill"
)

// Decode turns a raw record into an Entry.
func Decode(arch syscalls.Arch, clock bpf.Clock, r *bpf.Record) Entry {
	e := Entry{
		Seq: r.Seq, Time: clock.Wall(r.EnterNs), MonotonicNs: r.EnterNs,
		CPU: r.CPU, PID: r.PID, TID: r.TID, Comm: r.Comm, Nr: r.Nr, Args: r.Args,
		Finished: r.Finished, Phase: PhaseApp, Source: SourceRing, Incident: r.Incident, Late: r.Late,
	}
	if r.FromTape {
		e.Source = SourceTape
	}
	if r.Setup {
		e.Phase = PhaseRuntime
	}
	switch r.Nr {
	case bpf.EventProcessExit:
		e.Kind, e.Syscall = KindExit, "+++"
		ws := syscalls.DecodeWaitStatus(int(r.Args[0]))
		e.Params, e.Signal, e.CoreDumped = ws.String(), ws.Signal, ws.CoreDumped
		if ws.Exited {
			code := ws.Code
			e.ExitCode = &code
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
		if syscalls.IsErrno(ret) && !syscalls.RestoresContext(e.Syscall) {
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
	return e.Kind == KindSyscall && e.Ret != nil && syscalls.IsErrno(*e.Ret) && !syscalls.RestoresContext(e.Syscall)
}
