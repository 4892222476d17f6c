// Package dump serves /dump: the index of the recorder's rings, and the
// recent syscalls of one container decoded like strace.
package dump

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/cgroupid"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Source is what the handler reads rings from: the loaded recorder.
type Source interface {
	Rings() ([]bpf.Ring, []uint64, error)
	Read(cgroupID uint64, slot uint32) (bpf.Snapshot, error)
	Record(slot uint32, seq uint64) (bpf.Record, bool)
	Config() bpf.Config
}

// Handler answers /dump.
type Handler struct {
	Source   Source
	Cgroups  *cgroups.Hierarchy
	Resolver *containers.Resolver
	Parent   string // recorded cgroups live below this path
	Arch     syscalls.Arch
	Logger   *slog.Logger

	torn atomic.Uint64
}

// TornTotal counts records dropped by dumps because they were overwritten
// while being copied.
func (h *Handler) TornTotal() uint64 { return h.torn.Load() }

// httpError is an error with the status it should be answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET is supported", http.StatusMethodNotAllowed)
		return
	}
	q, err := ParseQuery(req.URL.Query(), h.Arch, time.Now())
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if q.Cgroup == "" {
		err = h.serveIndex(w, q)
	} else {
		err = h.serveRing(w, q)
	}
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			http.Error(w, he.msg, he.status)
			return
		}
		h.Logger.Error("dump failed", "err", err)
		http.Error(w, "internal error: "+err.Error(), http.StatusInternalServerError)
	}
}

// RingSummary is one row of the /dump index.
type RingSummary struct {
	Cgroup      string     `json:"cgroup"`
	CgroupID    uint64     `json:"cgroup_id"`
	Identity    string     `json:"identity"`
	Runtime     string     `json:"runtime,omitempty"`
	ContainerID string     `json:"container_id,omitempty"`
	PodUID      string     `json:"pod_uid,omitempty"`
	Records     uint64     `json:"records"`
	Written     uint64     `json:"written"`
	Overwritten uint64     `json:"overwritten"`
	Oldest      *time.Time `json:"oldest,omitempty"`
	Newest      *time.Time `json:"newest,omitempty"`
	Live        bool       `json:"live"`
}

// Index is the /dump?format=json answer without cgroup=.
type Index struct {
	Rings            []RingSummary `json:"rings"`
	RingSize         int           `json:"ring_size"`
	MaxRings         int           `json:"max_rings"`
	UntrackedCgroups int           `json:"untracked_cgroups"`
}

func (h *Handler) index() (Index, error) {
	rings, untracked, err := h.Source.Rings()
	if err != nil {
		return Index{}, err
	}
	cfg := h.Source.Config()
	clock := NewClock()
	idx := Index{RingSize: cfg.RingSize, MaxRings: cfg.MaxRings, UntrackedCgroups: len(untracked)}
	for _, r := range rings {
		path, live, _ := h.Resolver.Path(r.CgroupID)
		id := cgroupid.Parse(path)
		s := RingSummary{
			Cgroup: path, CgroupID: r.CgroupID, Identity: id.Label(path), Runtime: id.Runtime,
			ContainerID: id.ContainerID, PodUID: id.PodUID, Written: r.Written,
			Overwritten: r.Overwritten(cfg.RingSize), Live: live,
		}
		if !live {
			s.Cgroup = fmt.Sprintf("<removed cgroup %d>", r.CgroupID)
			s.Identity = s.Cgroup
		}
		s.Records = r.Written - s.Overwritten
		if s.Records > 0 {
			if rec, ok := h.Source.Record(r.Slot, r.Written-s.Records+1); ok {
				t := clock.Wall(rec.EnterNs)
				s.Oldest = &t
			}
			if rec, ok := h.Source.Record(r.Slot, r.Written); ok {
				t := clock.Wall(rec.EnterNs)
				s.Newest = &t
			}
		}
		idx.Rings = append(idx.Rings, s)
	}
	sort.Slice(idx.Rings, func(i, j int) bool { return idx.Rings[i].Cgroup < idx.Rings[j].Cgroup })
	return idx, nil
}

func (h *Handler) serveIndex(w http.ResponseWriter, q Query) error {
	idx, err := h.index()
	if err != nil {
		return err
	}
	if q.Format == "json" {
		return writeJSON(w, idx)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "# %d rings of %d records (%d max); %d cgroups without a ring (cap reached)\n",
		len(idx.Rings), idx.RingSize, idx.MaxRings, idx.UntrackedCgroups)
	fmt.Fprintf(w, "# dump one with /dump?cgroup=PATH (add &format=json, &failed=true, &syscall=openat,connect, &limit=N, &since=5m)\n")
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CGROUP\tIDENTITY\tRECORDS\tOVERWRITTEN\tOLDEST\tNEWEST\tSPAN")
	for _, r := range idx.Rings {
		oldest, newest, span := "-", "-", "-"
		if r.Oldest != nil && r.Newest != nil {
			oldest, newest = r.Oldest.Format(time.RFC3339Nano), r.Newest.Format(time.RFC3339Nano)
			span = r.Newest.Sub(*r.Oldest).Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\t%s\t%s\n", r.Cgroup, r.Identity, r.Records, r.Overwritten, oldest, newest, span)
	}
	return tw.Flush()
}

// RingDump is the /dump?cgroup=...&format=json answer.
type RingDump struct {
	Cgroup      string  `json:"cgroup"`
	CgroupID    uint64  `json:"cgroup_id"`
	Identity    string  `json:"identity"`
	Written     uint64  `json:"written"`
	Overwritten uint64  `json:"overwritten"`
	Torn        uint64  `json:"torn"`
	ExitLost    uint64  `json:"exit_lost"`
	Entries     []Entry `json:"entries"`
}

func (h *Handler) find(path string) (bpf.Ring, error) {
	path = cgroups.Clean(path)
	id, err := h.Cgroups.ID(path)
	if err != nil {
		return bpf.Ring{}, &httpError{http.StatusNotFound, fmt.Sprintf("cgroup %s not found (see /dump for the recorded ones)", path)}
	}
	rings, _, err := h.Source.Rings()
	if err != nil {
		return bpf.Ring{}, err
	}
	for _, r := range rings {
		if r.CgroupID == id {
			return r, nil
		}
	}
	return bpf.Ring{}, &httpError{http.StatusNotFound, fmt.Sprintf(
		"cgroup %s has no ring: nothing in it has made a syscall since the exporter started, it is not below %s, or every ring was taken (see /dump)",
		path, h.Parent)}
}

func (h *Handler) ringDump(q Query) (RingDump, error) {
	ring, err := h.find(q.Cgroup)
	if err != nil {
		return RingDump{}, err
	}
	snap, err := h.Source.Read(ring.CgroupID, ring.Slot)
	if err != nil {
		return RingDump{}, err
	}
	h.torn.Add(snap.Torn)
	cfg := h.Source.Config()
	path := cgroups.Clean(q.Cgroup)
	d := RingDump{
		Cgroup: path, CgroupID: ring.CgroupID, Identity: cgroupid.Parse(path).Label(path),
		Written: snap.Ring.Written, Overwritten: snap.Ring.Overwritten(cfg.RingSize), Torn: snap.Torn,
		ExitLost: snap.Ring.ExitLost, Entries: []Entry{},
	}
	clock := NewClock()
	for i := range snap.Records {
		e := Decode(h.Arch, clock, &snap.Records[i])
		if q.keep(&e) {
			d.Entries = append(d.Entries, e)
		}
	}
	if q.Limit > 0 && len(d.Entries) > q.Limit {
		d.Entries = d.Entries[len(d.Entries)-q.Limit:]
	}
	return d, nil
}

func (q Query) keep(e *Entry) bool {
	if q.Syscalls != nil && (e.Kind != KindSyscall || !q.Syscalls[int(e.Nr)]) {
		return false
	}
	if q.Failed && !e.Failed() {
		return false
	}
	if !q.Since.IsZero() && e.Time.Before(q.Since) {
		return false
	}
	return true
}

func (h *Handler) serveRing(w http.ResponseWriter, q Query) error {
	d, err := h.ringDump(q)
	if err != nil {
		return err
	}
	if q.Format == "json" {
		return writeJSON(w, d)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "# cgroup=%s identity=%s written=%d overwritten=%d torn=%d shown=%d\n",
		d.Cgroup, d.Identity, d.Written, d.Overwritten, d.Torn, len(d.Entries))
	return WriteText(w, d.Entries)
}

// WriteText prints entries as aligned columns, one syscall per line.
func WriteText(w io.Writer, entries []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCPU\tPID\tTID\tCOMM\tSYSCALL\tPARAMETERS\tRET\tDURATION")
	for i := range entries {
		e := &entries[i]
		ret, dur := e.RetText, "-"
		switch {
		case e.Kind != KindSyscall:
			ret = ""
		case e.DurationNs != nil:
			dur = formatDuration(*e.DurationNs)
		case e.RetText == "?" && isNoReturn(e.Syscall):
			dur = "-"
		default:
			dur = "unfinished"
		}
		params := e.Params
		if e.Kind == KindSyscall {
			params = "(" + params + ")"
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n",
			e.Time.Format("15:04:05.000000"), e.CPU, e.PID, e.TID, strconv.Quote(e.Comm)[1:len(strconv.Quote(e.Comm))-1],
			e.Syscall, params, ret, dur)
	}
	return tw.Flush()
}

func isNoReturn(name string) bool { return name == "exit" || name == "exit_group" }

func formatDuration(ns uint64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(v)
}
