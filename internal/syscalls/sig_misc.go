package syscalls

// miscSigs covers signals, futexes, polling, timers and event fds.
var miscSigs = map[string]sig{
	// Signals.
	"rt_sigaction":      s(aSignal, aPtr, aPtr, aSize),
	"rt_sigprocmask":    s(aEnum(sigHows), aPtr, aPtr, aSize),
	"rt_sigreturn":      {restores: true},
	"rt_sigsuspend":     s(aPtr, aSize),
	"rt_sigpending":     s(aPtr, aSize),
	"rt_sigtimedwait":   s(aPtr, aPtr, aPtr, aSize),
	"rt_sigqueueinfo":   s(aPid, aSignal, aPtr),
	"rt_tgsigqueueinfo": s(aPid, aPid, aSignal, aPtr),
	"sigaltstack":       s(aPtr, aPtr),
	"signalfd4":         s(aFd, aPtr, aSize, aFlags(sfdFlags)),
	"pause":             s(),
	"restart_syscall":   s(),

	// Futexes.
	"futex": s(aPtr, aFutexOp, aFutexArg, aFutexArg, aFutexArg, aFutexArg),

	// Polling.
	"poll":          s(aPtr, aUint, aInt),
	"ppoll":         s(aPtr, aUint, aPtr, aPtr, aSize),
	"select":        s(aInt, aPtr, aPtr, aPtr, aPtr),
	"pselect6":      s(aInt, aPtr, aPtr, aPtr, aPtr, aPtr),
	"epoll_create":  s(aInt),
	"epoll_create1": s(aFlags(epollFlags)),
	"epoll_ctl":     s(aFd, aEnum(epollOps), aFd, aPtr),
	"epoll_wait":    s(aFd, aPtr, aInt, aInt),
	"epoll_pwait":   s(aFd, aPtr, aInt, aInt, aPtr, aSize),
	"epoll_pwait2":  s(aFd, aPtr, aInt, aPtr, aPtr, aSize),
	"eventfd":       s(aUint),
	"eventfd2":      s(aUint, aFlags(efdFlags)),
	"pipe":          s(aPtr),
	"pipe2":         s(aPtr, aOFlags),

	// Time.
	"nanosleep":       s(aPtr, aPtr),
	"clock_nanosleep": s(aEnum(clockIDs), aFlags(timerFlags), aPtr, aPtr),
	"clock_gettime":   s(aEnum(clockIDs), aPtr),
	"clock_getres":    s(aEnum(clockIDs), aPtr),
	"gettimeofday":    s(aPtr, aPtr),
	"alarm":           s(aUint),
	"getitimer":       s(aEnum(itimers), aPtr),
	"setitimer":       s(aEnum(itimers), aPtr, aPtr),
	"timerfd_create":  s(aEnum(clockIDs), aFlags(tfdFlags)),
	"timerfd_settime": s(aFd, aFlags(tfdSetFlags), aPtr, aPtr),
	"timerfd_gettime": s(aFd, aPtr),

	// io_uring.
	"io_uring_setup":    s(aUint, aPtr),
	"io_uring_enter":    s(aFd, aUint, aUint, aHex, aPtr, aSize),
	"io_uring_register": s(aFd, aUint, aPtr, aUint),
}
