package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/cilium/ebpf/link"
)

// modeID names what is attached while a workload runs.
type modeID int

const (
	modeNone                modeID = iota // nothing
	modeFloor                             // empty tp_btf programs on sys_enter/sys_exit
	modeEssentials                        // scope check, two clock reads and the payload copy, nothing else
	modeExporter                          // the exporter, default settings (capture 64 bytes)
	modeExporterNoCapture                 // the exporter with --recorder.capture-bytes=0
	modeExporterNoIncidents               // the exporter with --recorder.incident-errnos=none
	modeExporterUnthrottled               // the exporter with no incident rate limit: every incident copies its context
	modeStrace                            // strace -f -qq -o /dev/null around the workload
)

// modeInfo is how a mode is keyed and shown.
type modeInfo struct {
	id    modeID
	key   string // stable key, used in results
	label string // report row label
}

var allModes = []modeInfo{
	{modeNone, "none", "none"},
	{modeFloor, "floor", "floor (empty tp_btf)"},
	{modeEssentials, "essentials", "essentials (scope, 2 clock reads, payload copy)"},
	{modeExporter, "exporter", "exporter (capture 64 B)"},
	{modeExporterNoCapture, "exporter-nocapture", "exporter (capture 0)"},
	{modeExporterNoIncidents, "exporter-noincidents", "exporter (incidents off)"},
	{modeExporterUnthrottled, "exporter-unthrottled", "exporter (incidents unthrottled)"},
	{modeStrace, "strace", "strace -f"},
}

// microOnly says whether the mode is measured on the micro workloads only:
// the essentials are a cost model of the per-syscall work, not a tracer;
// the unthrottled exporter differs from the default one only on notable
// failures, a stress setting for the notable-failure workload.
func (m modeInfo) microOnly() bool { return m.id == modeEssentials || m.id == modeExporterUnthrottled }

// isExporter says whether the mode runs the exporter.
func (m modeInfo) isExporter() bool {
	switch m.id {
	case modeExporter, modeExporterNoCapture, modeExporterNoIncidents, modeExporterUnthrottled:
		return true
	}
	return false
}

// floorTargets says whether the cost targets against the floor
// (≤ 3× tracked, ≤ 1.3× outside) are judged for the mode: the exporter as
// shipped, with capture on and off. The incident modes have targets of
// their own (targets.go).
func (m modeInfo) floorTargets() bool { return m.id == modeExporter || m.id == modeExporterNoCapture }

// unthrottledFlags lift the incident rate limit: at 10^9 incidents a
// second the token bucket's interval is 1 ns, less than any syscall takes,
// so every incident copies its record and its 8 context records. This
// measures what one incident with context costs, which at the default rate
// (50 a second) is far too rare to show in a per-syscall average.
var unthrottledFlags = []string{"--recorder.incident-rate=1e9"}

// straceArgs wrap a command in strace; output is thrown away, so its cost
// is tracing and decoding, not writing.
var straceArgs = []string{"strace", "-f", "-qq", "-o", "/dev/null"}

// session is one mode set up for one round.
type session struct {
	mode  modeInfo
	floor *floorTracer
	exp   *exporterProc
	ours  map[link.ID]bool // cached ourLinks
}

// startSession attaches the mode's tracer: loads the floor, or starts the
// exporter and waits until it records. errnos, unless empty, is the
// exporter's --recorder.incident-errnos where incidents are on.
func (b *bench) startSession(ctx context.Context, m modeInfo, errnos string) (*session, error) {
	s := &session{mode: m}
	flags := slices.Clone(b.exporterFlags)
	if errnos != "" && m.id != modeExporterNoIncidents {
		flags = append([]string{"--recorder.incident-errnos=" + errnos}, flags...)
	}
	var err error
	switch m.id {
	case modeFloor:
		s.floor, err = attachFloor()
	case modeEssentials:
		s.floor, err = attachEssentials(b.cg.mount, b.cg.parent())
	case modeExporter:
		s.exp, err = startExporter(ctx, b.exporter, b.cg.parent(), b.tmp, flags)
	case modeExporterNoCapture:
		s.exp, err = startExporter(ctx, b.exporter, b.cg.parent(), b.tmp, append([]string{"--recorder.capture-bytes=0"}, flags...))
	case modeExporterNoIncidents:
		s.exp, err = startExporter(ctx, b.exporter, b.cg.parent(), b.tmp, append([]string{"--recorder.incident-errnos=none"}, flags...))
	case modeExporterUnthrottled:
		s.exp, err = startExporter(ctx, b.exporter, b.cg.parent(), b.tmp, append(slices.Clone(unthrottledFlags), flags...))
	}
	if err != nil {
		return nil, fmt.Errorf("mode %s: %w", m.key, err)
	}
	return s, nil
}

// wrap returns the command line to run argv under this mode, and whether
// the workload must count its parent's (the tracer's) CPU time.
func (s *session) wrap(argv []string) ([]string, bool) {
	if s.mode.id == modeStrace {
		return append(append([]string{}, straceArgs...), argv...), true
	}
	return argv, false
}

// ourLinks are the sys_enter/sys_exit links this session made.
func (s *session) ourLinks() map[link.ID]bool {
	if s.ours != nil {
		return s.ours
	}
	ids := map[link.ID]bool{}
	if s.floor != nil {
		maps.Copy(ids, s.floor.linkIDs())
	}
	if s.exp != nil {
		maps.Copy(ids, s.exp.linkIDs())
	}
	s.ours = ids
	return ids
}

// close detaches the floor or stops the exporter.
func (s *session) close() error {
	var errs []error
	if s.floor != nil {
		errs = append(errs, s.floor.close())
	}
	if s.exp != nil {
		errs = append(errs, s.exp.stop())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("ending mode %s: %w", s.mode.key, err)
	}
	return nil
}
