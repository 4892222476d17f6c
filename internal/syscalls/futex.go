package syscalls

import "strconv"

const (
	futexPrivate       = 128
	futexClockRealtime = 256
	futexCmdMask       = 127
)

// Futex commands, without the PRIVATE and CLOCK_REALTIME modifiers.
const (
	futexWait          = 0
	futexWake          = 1
	futexFd            = 2
	futexRequeue       = 3
	futexCmpRequeue    = 4
	futexWakeOp        = 5
	futexLockPI        = 6
	futexUnlockPI      = 7
	futexTrylockPI     = 8
	futexWaitBitset    = 9
	futexWakeBitset    = 10
	futexWaitRequeuePI = 11
	futexCmpRequeuePI  = 12
	futexLockPI2       = 13
)

// FutexEffect says what a futex command (the op argument; the private and
// clock flags are ignored) does to its caller: "wait" when it may block on
// the futex (contention), "wake" when it wakes or requeues waiters, "other"
// for anything else.
func FutexEffect(op uint32) string {
	switch op & futexCmdMask {
	case futexWait, futexLockPI, futexTrylockPI, futexWaitBitset, futexWaitRequeuePI, futexLockPI2:
		return "wait"
	case futexWake, futexRequeue, futexCmpRequeue, futexWakeOp, futexUnlockPI, futexWakeBitset, futexCmpRequeuePI:
		return "wake"
	default:
		return "other"
	}
}

var futexCmds = map[uint64]string{
	futexWait: "FUTEX_WAIT", futexWake: "FUTEX_WAKE", futexFd: "FUTEX_FD",
	futexRequeue: "FUTEX_REQUEUE", futexCmpRequeue: "FUTEX_CMP_REQUEUE", futexWakeOp: "FUTEX_WAKE_OP",
	futexLockPI: "FUTEX_LOCK_PI", futexUnlockPI: "FUTEX_UNLOCK_PI", futexTrylockPI: "FUTEX_TRYLOCK_PI",
	futexWaitBitset: "FUTEX_WAIT_BITSET", futexWakeBitset: "FUTEX_WAKE_BITSET",
	futexWaitRequeuePI: "FUTEX_WAIT_REQUEUE_PI", futexCmpRequeuePI: "FUTEX_CMP_REQUEUE_PI",
	futexLockPI2: "FUTEX_LOCK_PI2",
}

// FutexOpName renders a futex(2) op the way strace does:
// "FUTEX_WAIT_PRIVATE", "FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME".
// Unknown commands and bits are shown in hex.
func FutexOpName(op uint64) string {
	op = uint64(uint32(op))
	name, ok := futexCmds[op&futexCmdMask]
	if !ok {
		return hex(op)
	}
	if op&futexPrivate != 0 {
		name += "_PRIVATE"
	}
	if op&futexClockRealtime != 0 {
		name += "|FUTEX_CLOCK_REALTIME"
	}
	if rest := op &^ (futexCmdMask | futexPrivate | futexClockRealtime); rest != 0 {
		name += "|" + hex(rest)
	}
	return name
}

// futexArgs returns how many arguments of futex(uaddr, op, val, timeout or
// val2, uaddr2, val3) a command uses.
func futexArgs(op uint64) int {
	switch op & futexCmdMask {
	case futexUnlockPI, futexTrylockPI:
		return 2
	case futexWake, futexFd:
		return 3
	case futexWait, futexLockPI, futexLockPI2:
		return 4
	case futexRequeue, futexWaitRequeuePI:
		return 5
	}
	return 6
}

// futexArg renders argument i (2..5) of a futex call with op.
func futexArg(op, v uint64, i int) string {
	cmd := op & futexCmdMask
	if _, ok := futexCmds[cmd]; !ok {
		return hex(v)
	}
	switch i {
	case 2:
		return strconv.FormatUint(uint64(uint32(v)), 10)
	case 3:
		switch cmd {
		case futexRequeue, futexCmpRequeue, futexWakeOp, futexCmpRequeuePI:
			return strconv.FormatUint(uint64(uint32(v)), 10) // val2
		}
		return pointer(v) // timeout
	case 4:
		return pointer(v)
	}
	switch cmd {
	case futexWaitBitset, futexWakeBitset:
		if uint32(v) == 0xffffffff {
			return "FUTEX_BITSET_MATCH_ANY"
		}
		return hex(uint64(uint32(v)))
	case futexWakeOp:
		return hex(uint64(uint32(v)))
	}
	return strconv.FormatUint(uint64(uint32(v)), 10)
}
