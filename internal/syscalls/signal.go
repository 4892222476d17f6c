package syscalls

import "strconv"

// sigRTMin is the kernel's first real-time signal (glibc reserves 32 and 33).
const (
	sigRTMin = 32
	sigRTMax = 64
)

// signalNames holds the standard signals, identical on amd64 and arm64.
var signalNames = map[int]string{
	1: "SIGHUP", 2: "SIGINT", 3: "SIGQUIT", 4: "SIGILL", 5: "SIGTRAP",
	6: "SIGABRT", 7: "SIGBUS", 8: "SIGFPE", 9: "SIGKILL", 10: "SIGUSR1",
	11: "SIGSEGV", 12: "SIGUSR2", 13: "SIGPIPE", 14: "SIGALRM", 15: "SIGTERM",
	16: "SIGSTKFLT", 17: "SIGCHLD", 18: "SIGCONT", 19: "SIGSTOP", 20: "SIGTSTP",
	21: "SIGTTIN", 22: "SIGTTOU", 23: "SIGURG", 24: "SIGXCPU", 25: "SIGXFSZ",
	26: "SIGVTALRM", 27: "SIGPROF", 28: "SIGWINCH", 29: "SIGIO", 30: "SIGPWR",
	31: "SIGSYS",
}

// SignalName returns the name of sig (11 -> "SIGSEGV"). Real-time signals
// are "SIGRT_<n>" counted from the kernel's SIGRTMIN (34 -> "SIGRT_2"), as
// strace prints them; unknown values are "SIG<n>".
func SignalName(sig int) string {
	if name, ok := signalNames[sig]; ok {
		return name
	}
	if sig >= sigRTMin && sig <= sigRTMax {
		return "SIGRT_" + strconv.Itoa(sig-sigRTMin)
	}
	return "SIG" + strconv.Itoa(sig)
}

// Generic si_code values, valid for every signal.
var siCodes = map[int]string{
	0: "SI_USER", 0x80: "SI_KERNEL", -1: "SI_QUEUE", -2: "SI_TIMER",
	-3: "SI_MESGQ", -4: "SI_ASYNCIO", -5: "SI_SIGIO", -6: "SI_TKILL",
	-7: "SI_DETHREAD", -60: "SI_ASYNCNL",
}

// Signal-specific si_code values (positive codes set by the kernel).
var sigCodes = map[int]map[int]string{
	4: { // SIGILL
		1: "ILL_ILLOPC", 2: "ILL_ILLOPN", 3: "ILL_ILLADR", 4: "ILL_ILLTRP",
		5: "ILL_PRVOPC", 6: "ILL_PRVREG", 7: "ILL_COPROC", 8: "ILL_BADSTK", 9: "ILL_BADIADDR",
	},
	5: { // SIGTRAP
		1: "TRAP_BRKPT", 2: "TRAP_TRACE", 3: "TRAP_BRANCH", 4: "TRAP_HWBKPT",
		5: "TRAP_UNK", 6: "TRAP_PERF",
	},
	7: { // SIGBUS
		1: "BUS_ADRALN", 2: "BUS_ADRERR", 3: "BUS_OBJERR", 4: "BUS_MCEERR_AR", 5: "BUS_MCEERR_AO",
	},
	8: { // SIGFPE
		1: "FPE_INTDIV", 2: "FPE_INTOVF", 3: "FPE_FLTDIV", 4: "FPE_FLTOVF", 5: "FPE_FLTUND",
		6: "FPE_FLTRES", 7: "FPE_FLTINV", 8: "FPE_FLTSUB", 14: "FPE_FLTUNK", 15: "FPE_CONDTRAP",
	},
	11: { // SIGSEGV
		1: "SEGV_MAPERR", 2: "SEGV_ACCERR", 3: "SEGV_BNDERR", 4: "SEGV_PKUERR", 5: "SEGV_ACCADI",
		6: "SEGV_ADIDERR", 7: "SEGV_ADIPERR", 8: "SEGV_MTEAERR", 9: "SEGV_MTESERR", 10: "SEGV_CPERR",
	},
	17: { // SIGCHLD
		1: "CLD_EXITED", 2: "CLD_KILLED", 3: "CLD_DUMPED", 4: "CLD_TRAPPED", 5: "CLD_STOPPED", 6: "CLD_CONTINUED",
	},
	29: { // SIGIO / SIGPOLL
		1: "POLL_IN", 2: "POLL_OUT", 3: "POLL_MSG", 4: "POLL_ERR", 5: "POLL_PRI", 6: "POLL_HUP",
	},
	31: { // SIGSYS
		1: "SYS_SECCOMP", 2: "SYS_USER_DISPATCH",
	},
}

// SigCodeName returns the name of the si_code of a signal of number sig:
// signal-specific codes for positive values (SEGV_MAPERR, CLD_EXITED...),
// generic ones otherwise (SI_USER, SI_KERNEL, SI_TKILL...). Unknown codes
// are rendered in decimal.
func SigCodeName(sig, code int) string {
	if code > 0 && code != 0x80 {
		if name, ok := sigCodes[sig][code]; ok {
			return name
		}
	}
	if name, ok := siCodes[code]; ok {
		return name
	}
	return strconv.Itoa(code)
}

// WaitStatus is a process's end as wait(2) reports it.
type WaitStatus struct {
	Exited     bool   // by exit: Code is its exit code
	Code       int    // exit code (0..255)
	Signal     string // the killing signal's name, when not Exited
	CoreDumped bool
}

// DecodeWaitStatus reads a wait status (the kernel's task exit_code).
func DecodeWaitStatus(status int) WaitStatus {
	if sig := status & 0x7f; sig != 0 {
		return WaitStatus{Signal: SignalName(sig), CoreDumped: status&0x80 != 0}
	}
	return WaitStatus{Exited: true, Code: (status >> 8) & 0xff}
}

// String says how the process ended, as strace does: "exited with 1",
// "killed by SIGSEGV (core dumped)".
func (w WaitStatus) String() string {
	switch {
	case w.Exited:
		return "exited with " + strconv.Itoa(w.Code)
	case w.CoreDumped:
		return "killed by " + w.Signal + " (core dumped)"
	default:
		return "killed by " + w.Signal
	}
}
