package syscalls

import (
	"strconv"
	"strings"
)

// Scalar arguments.
var (
	aHex  = arg{fmt: func(x *fmtCtx, i int) string { return hex(x.u(i)) }}
	aPtr  = arg{fmt: func(x *fmtCtx, i int) string { return pointer(x.u(i)) }}
	aInt  = arg{fmt: func(x *fmtCtx, i int) string { return strconv.FormatInt(x.i32(i), 10) }}
	aUint = arg{fmt: func(x *fmtCtx, i int) string { return strconv.FormatUint(uint64(uint32(x.u(i))), 10) }}
	aLong = arg{fmt: func(x *fmtCtx, i int) string { return strconv.FormatInt(int64(x.u(i)), 10) }}
	aSize = arg{fmt: func(x *fmtCtx, i int) string { return strconv.FormatUint(x.u(i), 10) }}
	aFd   = aInt
	aPid  = aInt
	aID   = aInt // uid_t/gid_t, where -1 means "unchanged"
	aMode = arg{fmt: func(x *fmtCtx, i int) string { return octal(uint64(uint32(x.u(i)))) }}

	aDirfd = arg{fmt: func(x *fmtCtx, i int) string {
		if x.i32(i) == atFDCWD {
			return "AT_FDCWD"
		}
		return strconv.FormatInt(x.i32(i), 10)
	}}
	aSignal = arg{fmt: func(x *fmtCtx, i int) string {
		if x.i32(i) == 0 {
			return "0"
		}
		return SignalName(int(x.i32(i)))
	}}
)

// Enumerations and flag sets.

// aEnum renders an int argument from a table, decimal when unknown.
func aEnum(e enum) arg {
	return arg{fmt: func(x *fmtCtx, i int) string { return e.format(x.i32(i)) }}
}

// aEnumHex renders an unsigned int argument from a table, hex when unknown.
func aEnumHex(e enum) arg {
	return arg{fmt: func(x *fmtCtx, i int) string {
		v := uint64(uint32(x.u(i)))
		if name, ok := e[int64(v)]; ok {
			return name
		}
		return hex(v)
	}}
}

// aFlags renders an int-sized flags argument.
func aFlags(fs flagSet) arg {
	return arg{fmt: func(x *fmtCtx, i int) string { return fs.format(uint64(uint32(x.u(i)))) }}
}

// aFlags64 renders an unsigned long flags argument.
func aFlags64(fs flagSet) arg {
	return arg{fmt: func(x *fmtCtx, i int) string { return fs.format(x.u(i)) }}
}

var (
	aOpenFlags = arg{fmt: func(x *fmtCtx, i int) string { return x.arch.OpenFlags(x.u(i)) }}
	// aOFlags are O_* flags without an access mode (pipe2, dup3).
	aOFlags = arg{fmt: func(x *fmtCtx, i int) string { return x.arch.openFlagSet().format(uint64(uint32(x.u(i)))) }}
	// aOpenMode is printed only when the preceding flags create a file.
	aOpenMode = arg{fmt: func(x *fmtCtx, i int) string {
		if x.u(i-1)&(oCreat|oTmpfile) == 0 {
			return ""
		}
		return octal(uint64(uint32(x.u(i))))
	}}
	aProt       = arg{fmt: func(x *fmtCtx, i int) string { return x.arch.MmapProt(x.u(i)) }}
	aMapFlags   = arg{fmt: func(x *fmtCtx, i int) string { return x.arch.MmapFlags(x.u(i)) }}
	aCloneFlags = arg{fmt: func(x *fmtCtx, i int) string { return CloneFlags(x.u(i)) }}
	aFamily     = aEnum(families)
	aSockType   = arg{fmt: func(x *fmtCtx, i int) string { return SocketType(x.u(i)) }}
	// aSockProto needs the family two arguments earlier.
	aSockProto = arg{fmt: func(x *fmtCtx, i int) string { return socketProtocol(x.i32(i-2), x.i32(i)) }}
	aSockLevel = aEnum(sockLevels)
	// aSockOpt needs the level right before it.
	aSockOpt = arg{fmt: func(x *fmtCtx, i int) string { return sockOpts[x.i32(i-1)].format(x.i32(i)) }}
	aFutexOp = arg{fmt: func(x *fmtCtx, i int) string { return FutexOpName(x.u(i)) }}
	// aFutexArg renders futex arguments 2..5 as the command at index 1 uses them.
	aFutexArg = arg{fmt: func(x *fmtCtx, i int) string {
		if i >= futexArgs(x.u(1)) {
			return ""
		}
		return futexArg(x.u(1), x.u(i), i)
	}}
	// aFcntlArg renders fcntl's third argument according to the command.
	aFcntlArg = arg{fmt: func(x *fmtCtx, i int) string {
		switch x.i32(i - 1) {
		case 1, 3, 9, 11, 1025, 1032, 1034: // F_GET* without argument
			return ""
		case 2: // F_SETFD
			return fdFlags.format(uint64(uint32(x.u(i))))
		case 4: // F_SETFL
			return x.arch.OpenFlags(x.u(i))
		case 5, 6, 7, 15, 16, 17, 36, 37, 38, 1035, 1036, 1037, 1038: // pointers
			return pointer(x.u(i))
		case 10: // F_SETSIG
			return aSignal.fmt(x, i)
		}
		return strconv.FormatInt(x.i32(i), 10)
	}}
	// aMremapAddr is printed only with MREMAP_FIXED in the preceding flags.
	aMremapAddr = arg{fmt: func(x *fmtCtx, i int) string {
		if x.u(i-1)&mremapFixed == 0 {
			return ""
		}
		return pointer(x.u(i))
	}}
	// aPrctlArg prints prctl's arguments 1..4 in hex, and decodes the few
	// options whose arguments are signals or that take none.
	aPrctlArg = arg{fmt: func(x *fmtCtx, i int) string {
		switch x.i32(0) {
		case 1: // PR_SET_PDEATHSIG
			if i == 1 {
				return aSignal.fmt(x, i)
			}
			return ""
		case 3, 7, 21, 27, 30, 39, 42: // PR_GET_* returning the value
			return ""
		}
		return hex(x.u(i))
	}}
)

// User-memory arguments.
var (
	aPath = arg{role: rolePath, fmt: func(x *fmtCtx, i int) string {
		switch {
		case x.u(i) == 0:
			return "NULL"
		case i == x.cap.Str1 && x.c.Str1 != nil:
			return quote(x.c.Str1, x.c.Str1Truncated)
		case i == x.cap.Str2 && x.c.Str2 != nil:
			return quote(x.c.Str2, x.c.Str2Truncated)
		}
		return pointer(x.u(i))
	}}
	aArgv = arg{role: roleArgv, fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 || i != x.cap.Argv || x.c.Argv == nil {
			return pointer(x.u(i))
		}
		return formatArgv(x.c.Argv, x.c.ArgvTruncated)
	}}
	aEnvp = arg{fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 {
			return "NULL"
		}
		return pointer(x.u(i)) + " /* envp */"
	}}
	aBuf = arg{role: roleBuf, fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 || i != x.cap.Buf || x.c.Buf == nil {
			return pointer(x.u(i))
		}
		return quote(x.c.Buf, x.c.BufTruncated)
	}}
	aBufOut = arg{role: roleBufOut, fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 || i != x.cap.Buf || x.c.Buf == nil || !x.ok() {
			return pointer(x.u(i))
		}
		return quote(x.c.Buf, x.c.BufTruncated)
	}}
	aSockaddr = arg{role: roleSockaddr, fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 || i != x.cap.Sockaddr || x.c.Sockaddr == nil {
			return pointer(x.u(i))
		}
		return FormatSockaddr(x.c.Sockaddr)
	}}
	aSockaddrOut = arg{role: roleSockaddrOut, fmt: func(x *fmtCtx, i int) string {
		if x.u(i) == 0 || i != x.cap.Sockaddr || x.c.Sockaddr == nil || !x.ok() {
			return pointer(x.u(i))
		}
		return FormatSockaddr(x.c.Sockaddr)
	}}
)

// formatArgv renders a captured argument vector: ["ls", "-l"], with a
// trailing ... when the recorder or the output bound cut it.
func formatArgv(argv [][]byte, truncated bool) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i, a := range argv {
		if i >= maxArgv || sb.Len() >= maxArgvOut {
			truncated = true
			break
		}
		if i > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString(quote(a, false))
	}
	if truncated {
		if len(argv) > 0 {
			sb.WriteString(", ")
		}
		sb.WriteString("...")
	}
	sb.WriteByte(']')
	return sb.String()
}

// Return-value renderers.

// retHex renders addresses (mmap, brk, mremap).
func retHex(x *fmtCtx) string { return hex(uint64(x.c.Ret)) }

// retOctal renders the previous mask returned by umask.
func retOctal(x *fmtCtx) string { return octal(uint64(x.c.Ret)) }

// retFcntl decodes the flags returned by F_GETFD and F_GETFL.
func retFcntl(x *fmtCtx) string {
	v := uint64(x.c.Ret)
	switch x.i32(1) {
	case 1: // F_GETFD
		return hex(v) + " (flags " + fdFlags.format(v) + ")"
	case 3: // F_GETFL
		return hex(v) + " (flags " + x.arch.OpenFlags(v) + ")"
	}
	return strconv.FormatInt(x.c.Ret, 10)
}
