package syscalls

import (
	"fmt"
	"strconv"
	"strings"
)

// Call is one recorded syscall as the recorder hands it over.
type Call struct {
	Nr       int
	Args     [6]uint64
	Ret      int64
	Finished bool // false: still running when the dump was taken (or never returned)

	// Captured strings without the NUL. A nil slice means "not captured"; an
	// empty string must be a non-nil empty slice.
	Str1, Str2                   []byte
	Str1Truncated, Str2Truncated bool

	Argv          [][]byte
	ArgvTruncated bool // more arguments or bytes than captured

	Sockaddr []byte // raw struct sockaddr bytes as copied

	Buf          []byte // first bytes of the buffer
	BufTruncated bool   // the buffer was longer than Buf
}

// sig describes how to print one syscall.
type sig struct {
	args []arg
	ret  func(x *fmtCtx) string // nil: decimal
	// noReturn: the call never returns to its caller when it succeeds
	// and never fails (exit, exit_group).
	noReturn bool
	// restores: the call returns to the context a signal interrupted,
	// with that context's registers (rt_sigreturn): its return value is
	// whatever the interrupted code had, often another syscall's -errno,
	// and never a result of its own.
	restores bool
}

// arg renders argument i of a call. An empty result means "omit this and
// every following argument" (open's mode without O_CREAT, for instance).
type arg struct {
	role role
	fmt  func(x *fmtCtx, i int) string
}

// s builds a signature with the default decimal return value.
func s(args ...arg) sig { return sig{args: args} }

// sn builds the signature of a call that never returns.
func sn(args ...arg) sig { return sig{args: args, noReturn: true} }

// NoReturn reports whether the syscall called name never returns, so that
// a record of it without a return value is complete, not unfinished.
func NoReturn(name string) bool { return signatures[name].noReturn }

// RestoresContext reports whether the syscall called name returns the
// registers of the context a signal interrupted (rt_sigreturn): its return
// value is not its own, and never an error.
func RestoresContext(name string) bool { return signatures[name].restores }

// sr builds a signature with its own return-value renderer.
func sr(ret func(x *fmtCtx) string, args ...arg) sig { return sig{args: args, ret: ret} }

// fmtCtx is what renderers see of the call being formatted.
type fmtCtx struct {
	arch Arch
	c    *Call
	cap  Capture
}

func (x *fmtCtx) u(i int) uint64  { return x.c.Args[i] }
func (x *fmtCtx) i32(i int) int64 { return int64(int32(x.c.Args[i])) }

// ok reports whether the call returned successfully.
func (x *fmtCtx) ok() bool { return x.c.Finished && !IsErrno(x.c.Ret) }

// MaxErrno is the largest errno a syscall returns: the kernel encodes a
// failure as a return value in -MaxErrno..-1.
const MaxErrno = 4095

// IsErrno reports whether a raw syscall return value encodes -errno.
func IsErrno(ret int64) bool { return ret >= -MaxErrno && ret <= -1 }

// Format returns the syscall name, its decoded parameters and its decoded
// return value: ("openat", `AT_FDCWD, "/etc/passwd", O_RDONLY`, "3").
func (a Arch) Format(c *Call) (name, params, ret string) {
	if c == nil {
		return "", "", ""
	}
	name = a.Name(c.Nr)
	x := &fmtCtx{arch: a, c: c, cap: a.Capture(c.Nr)}
	sg, known := signatures[name]
	if !known {
		return name, rawParams(c), formatRet(x, sig{})
	}
	parts := make([]string, 0, len(sg.args))
	for i, ar := range sg.args {
		p := ar.fmt(x, i)
		if p == "" {
			break
		}
		parts = append(parts, p)
	}
	return name, strings.Join(parts, ", "), formatRet(x, sg)
}

// rawParams prints all six arguments in hex, for syscalls without a
// signature.
func rawParams(c *Call) string {
	parts := make([]string, len(c.Args))
	for i, v := range c.Args {
		parts[i] = hex(v)
	}
	return strings.Join(parts, ", ")
}

// formatRet renders the return value: "?" while unfinished, "-13 EACCES"
// for errors, else the syscall's own renderer or decimal.
func formatRet(x *fmtCtx, sg sig) string {
	switch {
	case !x.c.Finished:
		return "?"
	case sg.restores:
		// The interrupted context's register, not an error of its own.
		return fmt.Sprintf("%#x (restored)", uint64(x.c.Ret))
	case IsErrno(x.c.Ret):
		return strconv.FormatInt(x.c.Ret, 10) + " " + ErrnoName(int(-x.c.Ret))
	case sg.ret != nil:
		return sg.ret(x)
	}
	return strconv.FormatInt(x.c.Ret, 10)
}

// timedWaits are the calls whose timeout is an ordinary end: a futex or
// semaphore wait, a message queue or signal wait, an AIO wait that times
// out returns ETIMEDOUT or EAGAIN as a matter of course.
var timedWaits = map[string]bool{
	"futex": true, "futex_waitv": true, "semtimedop": true, "mq_timedsend": true, "mq_timedreceive": true,
	"rt_sigtimedwait": true, "io_getevents": true, "io_pgetevents": true,
}

// TimedWait reports whether the syscall called name is a wait whose
// timeout is an ordinary end (futex, semtimedop, ...): its failures are
// counted, but they are no incidents.
func TimedWait(name string) bool { return timedWaits[name] }
