package bpf

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts the kernel's CLOCK_MONOTONIC timestamps (record times) to
// wall-clock time.
type Clock struct{ offset int64 }

// NewClock samples both clocks now.
func NewClock() Clock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return Clock{offset: time.Now().UnixNano() - ts.Nano()}
}

// FixedClock is a clock on which monotonic instant mono is wall-clock
// time wall: fixtures of tests.
func FixedClock(mono uint64, wall time.Time) Clock {
	return Clock{offset: wall.UnixNano() - int64(mono)}
}

// Wall returns the wall-clock time of a monotonic timestamp.
func (c Clock) Wall(monoNs uint64) time.Time {
	return time.Unix(0, int64(monoNs)+c.offset).UTC()
}
