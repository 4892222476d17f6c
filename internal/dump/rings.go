package dump

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/cgroupid"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
)

// The dump of one cgroup's ring, live or frozen.

// RingInfo describes a ring: a row of the /dump index, and the head of a
// ring's dump. Records, Oldest and Newest are what the ring holds; Torn
// counts the records a dump dropped because they changed while copied.
type RingInfo struct {
	Cgroup      string `json:"cgroup"`
	CgroupID    uint64 `json:"cgroup_id"`
	Identity    string `json:"identity"`
	Runtime     string `json:"runtime,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	PodUID      string `json:"pod_uid,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Pod         string `json:"pod,omitempty"`
	Container   string `json:"container,omitempty"`
	Records     uint64 `json:"records"`
	// Capacity is how many records the live ring holds in its size
	// class; Large says it was promoted to the large class.
	Capacity int  `json:"capacity,omitempty"`
	Large    bool `json:"large,omitempty"`
	// Late says the container was refused a ring at its first syscall
	// and got this one later: its records begin mid-life.
	Late        bool       `json:"late,omitempty"`
	Written     uint64     `json:"written"`
	Overwritten uint64     `json:"overwritten"`
	Torn        uint64     `json:"torn"`
	ExitLost    uint64     `json:"exit_lost"`
	Oldest      *time.Time `json:"oldest,omitempty"`
	Newest      *time.Time `json:"newest,omitempty"`
	Live        bool       `json:"live"`
	FrozenAt    *time.Time `json:"frozen_at,omitempty"` // set for the ring of an earlier run
	Ended       string     `json:"ended,omitempty"`     // how that run ended: how its main process did
	// MainPID is the container's main process: its entrypoint, or the
	// first process of a cgroup that no runtime set up. AppSeq is the
	// record of the execve with which the runtime started the entrypoint.
	MainPID uint32 `json:"main_pid,omitempty"`
	AppSeq  uint64 `json:"app_seq,omitempty"`
	// Incidents counts the incidents put on the ring's tape, Suppressed
	// those kept without their context (a storm over the rate).
	Incidents  uint64 `json:"incidents"`
	Suppressed uint64 `json:"incidents_suppressed"`
	Restarts   *int   `json:"restarts,omitempty"` // Kubernetes: restarts of the container before this run
}

// newRingInfo is the identity of the ring of the cgroup at path.
func newRingInfo(path string, cgroupID uint64) RingInfo {
	id := cgroupid.Parse(path)
	return RingInfo{Cgroup: path, CgroupID: cgroupID, Identity: id.Label(path), Runtime: id.Runtime,
		ContainerID: id.ContainerID, PodUID: id.PodUID}
}

// RingDump is the /dump?cgroup=...&format=json answer.
type RingDump struct {
	RingInfo
	Entries []Entry `json:"entries"`
}

// ring is a ring to dump: live in the kernel or frozen in the store.
type ring struct {
	info    RingInfo
	live    bool
	slot    uint32
	records []bpf.Record
}

func (h *Handler) liveRing(r bpf.Ring, path string) ring {
	l, _ := h.Resolver.Labels(r.CgroupID)
	info := newRingInfo(path, r.CgroupID)
	info.Namespace, info.Pod, info.Container, info.Live = l.Namespace, l.Pod, l.Container, true
	if n, ok := h.Resolver.Restarts(r.CgroupID); ok {
		info.Restarts = &n
	}
	return ring{live: true, slot: r.Slot, info: info}
}

func frozenRing(f *frozen.Ring) ring {
	at := f.FrozenAt
	info := newRingInfo(f.Cgroup, f.CgroupID)
	info.Namespace, info.Pod, info.Container = f.Labels.Namespace, f.Labels.Pod, f.Labels.Container
	info.Written, info.Overwritten, info.Torn, info.FrozenAt, info.Ended = f.Written, f.Overwritten, f.Torn, &at, f.Ended
	info.Restarts, info.MainPID, info.AppSeq, info.Late = f.Restarts, f.MainPID, f.AppSeq, f.Late
	info.Incidents, info.Suppressed = f.Incidents, f.Suppressed
	return ring{records: f.Records, info: info}
}

// span sets what the ring holds from its records: how many, the oldest and
// the newest.
func (r *ring) span(clock bpf.Clock) {
	r.info.Records = uint64(len(r.records))
	if n := len(r.records); n > 0 {
		oldest, newest := clock.Wall(r.records[0].EnterNs), clock.Wall(r.records[n-1].EnterNs)
		r.info.Oldest, r.info.Newest = &oldest, &newest
	}
}

// load copies the records of a live ring (a frozen one has them already).
func (h *Handler) load(r *ring) error {
	if !r.live {
		return nil
	}
	snap, err := h.Source.Read(r.info.CgroupID, r.slot)
	if err != nil {
		return err
	}
	h.torn.Add(snap.Torn)
	r.records = snap.Records
	r.info.Written = snap.Ring.Written
	r.info.Overwritten = snap.Ring.Overwritten()
	r.info.Capacity, r.info.Large, r.info.Late = snap.Ring.Capacity, snap.Ring.Large, snap.Ring.Late
	r.info.Torn = snap.Torn
	r.info.ExitLost = snap.Ring.ExitLost
	r.info.MainPID, r.info.AppSeq = snap.Ring.MainPID, snap.Ring.AppSeq
	r.info.Incidents, r.info.Suppressed = snap.Ring.Incidents, snap.Ring.Suppressed
	return nil
}

// entries decodes and filters the records of rings, merged in time order.
func (h *Handler) entries(q Query, rings []ring, withContainer bool) []Entry {
	clock := h.clock()
	out := []Entry{}
	for _, r := range rings {
		shownSetup := false
		var prevSeq, notKept uint64 // records kept nowhere since the last entry shown
		for i := range r.records {
			e := Decode(h.Arch, clock, Redacted(h.Redact, &r.records[i]))
			if e.Seq > prevSeq+1 {
				notKept += e.Seq - prevSeq - 1
			}
			prevSeq = e.Seq
			if withContainer {
				e.Container = r.info.Container
				if e.Container == "" {
					e.Container = r.info.Identity
				}
			}
			if !q.keep(&e) {
				continue
			}
			e.NotKeptBefore, notKept = notKept, 0
			// The first entry shown after the setup, where some of the
			// setup is shown too, is where the application starts.
			if app := r.info.AppSeq; app > 0 {
				if e.Seq <= app {
					shownSetup = true
				} else if shownSetup {
					e.AppStarts, shownSetup = true, false
				}
			}
			out = append(out, e)
		}
	}
	if len(rings) > 1 {
		sort.SliceStable(out, func(i, j int) bool { return out[i].MonotonicNs < out[j].MonotonicNs })
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out
}

func (q Query) keep(e *Entry) bool {
	if q.Around > 0 && (e.Seq+AroundSpan < q.Around || e.Seq > q.Around+AroundSpan) {
		return false
	}
	if q.Syscalls != nil && (e.Kind != KindSyscall || !q.Syscalls[int(e.Nr)]) {
		return false
	}
	// How a process ended stays in a failed=true dump: it is the story's end.
	if q.Failed && e.Kind == KindSyscall && !e.Failed() {
		return false
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	return true
}

func (h *Handler) serveCgroup(w http.ResponseWriter, who caller, q Query) error {
	path := cgroups.Clean(q.Cgroup)
	var r ring
	if q.CgroupID != 0 {
		run, ok, err := h.runByID(q.CgroupID)
		if err != nil {
			return err
		}
		if !ok || run.info.Cgroup != path {
			return notFound("no run of cgroup %s with cgroup_id %d is kept", path, q.CgroupID)
		}
		r = run
	} else if q.Previous > 0 {
		f, ok := h.Store.Previous(q.Previous, func(f *frozen.Ring) bool { return f.Cgroup == path })
		if !ok {
			return notFound("no earlier run of cgroup %s is kept (previous=%d); see /dump for the frozen rings", path, q.Previous)
		}
		r = frozenRing(f)
	} else {
		live, err := h.findCgroup(path)
		if err != nil {
			return err
		}
		r = live
	}
	if err := h.allowed(who, r.info.Namespace); err != nil {
		return err
	}
	if err := h.load(&r); err != nil {
		return err
	}
	if err := checkAround(q, r); err != nil {
		return err
	}
	r.span(h.clock())
	d := RingDump{RingInfo: r.info, Entries: h.entries(q, []ring{r}, false)}
	if q.Format == "json" {
		return writeJSON(w, d)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	writeRingHeader(w, d.RingInfo, len(d.Entries))
	return WriteText(w, d.Entries, false)
}

func (h *Handler) findCgroup(path string) (ring, error) {
	id, err := h.Cgroups.ID(path)
	if err != nil {
		if _, ok := h.Store.Previous(1, func(f *frozen.Ring) bool { return f.Cgroup == path }); ok {
			return ring{}, notFound("cgroup %s is gone; its last ring is kept: add previous=true", path)
		}
		return ring{}, notFound("cgroup %s not found (see /dump for the recorded ones)", path)
	}
	rings, _, err := h.Source.Rings()
	if err != nil {
		return ring{}, err
	}
	for _, r := range rings {
		if r.CgroupID == id {
			return h.liveRing(r, path), nil
		}
	}
	return ring{}, notFound(
		"cgroup %s has no ring: nothing in it has made a syscall since the exporter started, it is not below %s, or no ring was ready when it started: the memory budget or the slots were spent (see /dump)",
		path, h.Parent)
}

func writeRingHeader(w http.ResponseWriter, r RingInfo, shown int) {
	fmt.Fprintf(w, "# cgroup=%s identity=%s", r.Cgroup, r.Identity)
	if r.Pod != "" {
		fmt.Fprintf(w, " namespace=%s pod=%s container=%s", r.Namespace, r.Pod, r.Container)
	}
	fmt.Fprintf(w, " written=%d overwritten=%d torn=%d", r.Written, r.Overwritten, r.Torn)
	if r.Restarts != nil {
		fmt.Fprintf(w, " restarts=%d", *r.Restarts)
	}
	if r.FrozenAt != nil {
		fmt.Fprintf(w, " frozen_at=%s ended=%q", r.FrozenAt.Format(time.RFC3339), r.Ended)
	}
	if shown >= 0 {
		fmt.Fprintf(w, " shown=%d", shown)
	}
	fmt.Fprintln(w)
}

// checkAround says, for around=N, whether ring r still keeps record N,
// and if not why: never written, or kept nowhere any more.
func checkAround(q Query, r ring) error {
	if q.Around == 0 {
		return nil
	}
	for i := range r.records {
		if r.records[i].Seq == q.Around {
			return nil
		}
	}
	if q.Around > r.info.Written {
		return notFound("record %d of %s was never written: the ring has written %d records", q.Around, r.info.Identity, r.info.Written)
	}
	oldest := uint64(0)
	if n := len(r.records); n > 0 {
		oldest = r.records[0].Seq
	}
	return notFound("record %d of %s is no longer kept: it was overwritten in the ring (oldest kept: %d) and is not on the incident tape (%d incidents kept)",
		q.Around, r.info.Identity, oldest, tapeIncidents(r.records))
}

// tapeIncidents counts the incidents among records.
func tapeIncidents(recs []bpf.Record) int {
	n := 0
	for i := range recs {
		if recs[i].Incident {
			n++
		}
	}
	return n
}

// newestHolding picks, for around=N in a pod dump, the ring of the
// container's newest run that still keeps record N: sequence numbers start
// again with each run, and an exemplar names the latest failure. The live
// ring comes first, then frozen rings, newest first.
func newestHolding(q Query, rings []ring) (ring, error) {
	var best *ring
	var why error
	for i := range rings {
		r := &rings[i]
		if err := checkAround(q, *r); err != nil {
			if why == nil {
				why = err
			}
			continue
		}
		if best == nil || newer(r, best) {
			best = r
		}
	}
	if best == nil {
		return ring{}, why
	}
	return *best, nil
}

// newer reports whether a is a later run than b: live, or frozen later.
func newer(a, b *ring) bool {
	switch {
	case a.live != b.live:
		return a.live
	case a.info.FrozenAt == nil || b.info.FrozenAt == nil:
		return false
	}
	return a.info.FrozenAt.After(*b.info.FrozenAt)
}

// runByID finds the ring of the run whose cgroup id is id, as an exemplar
// names it: in the kernel (its cgroup may be gone, the ring not frozen
// yet), or frozen.
func (h *Handler) runByID(id uint64) (ring, bool, error) {
	rings, _, err := h.Source.Rings()
	if err != nil {
		return ring{}, false, err
	}
	for _, r := range rings {
		if r.CgroupID != id {
			continue
		}
		path, live, ok := h.Resolver.Path(id)
		if !ok || path == "" {
			path = containers.RemovedCgroup(id)
		}
		run := h.liveRing(r, path)
		run.info.Live = live
		return run, true, nil
	}
	for _, f := range h.Store.All() {
		if f.CgroupID == id {
			return frozenRing(f), true, nil
		}
	}
	return ring{}, false, nil
}
