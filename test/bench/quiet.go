package main

import (
	"context"
	"fmt"
	"time"
)

// foreign reports the other processes' syscall tracers attached now ("" if
// none, or if they cannot be listed).
func (b *bench) foreign(s *session) string {
	found, err := foreignLinks(s.ourLinks())
	for try := 0; err != nil && try < 5; try++ {
		time.Sleep(10 * time.Millisecond) // a link being freed can answer EAGAIN
		found, err = foreignLinks(s.ourLinks())
	}
	if err != nil {
		b.noteOnce("Could not check for other processes' syscall tracers: " + err.Error())
		return ""
	}
	if len(found) == 0 {
		return ""
	}
	return describeLinks(found)
}

// waitQuiet waits up to -quiet-wait for other processes' syscall tracers
// to go, and reports those still attached.
func (b *bench) waitQuiet(ctx context.Context, s *session) (string, error) {
	deadline := time.Now().Add(b.cfg.quietWait)
	logged := false
	for {
		f := b.foreign(s)
		if f == "" || time.Now().After(deadline) {
			return f, nil
		}
		if !logged {
			b.logf("  waiting up to %s for other processes' syscall tracers to go: %s", b.cfg.quietWait, f)
			logged = true
		}
		select {
		case <-ctx.Done():
			return f, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cleanRun runs f until a run had no foreign syscall tracer attached
// before or after it, waiting for quiet in between, at most tries times.
// It returns whether the last run was clean; a run that was not is noted
// in the report.
func (b *bench) cleanRun(ctx context.Context, s *session, what string, tries int, f func() error) (bool, error) {
	for try := 1; ; try++ {
		if _, err := b.waitQuiet(ctx, s); err != nil {
			return false, err
		}
		pre := b.foreign(s)
		if err := f(); err != nil {
			return false, err
		}
		post := b.foreign(s)
		if pre == "" && post == "" {
			return true, nil
		}
		if try >= tries {
			seen := post
			if seen == "" {
				seen = pre
			}
			b.res.foreign = append(b.res.foreign, fmt.Sprintf("%s (kept after %d tries): %s", what, tries, seen))
			return false, nil
		}
		b.res.discarded++
		b.logf("  %s: other syscall tracers were attached, repeating", what)
	}
}

// noteOnce adds a note to the report header unless it is there already.
func (b *bench) noteOnce(n string) {
	for _, have := range b.notes {
		if have == n {
			return
		}
	}
	b.notes = append(b.notes, n)
}
