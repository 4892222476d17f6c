package dump

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroupid"
)

// RingSummary is one row of the /dump index.
type RingSummary struct {
	Cgroup      string     `json:"cgroup"`
	CgroupID    uint64     `json:"cgroup_id"`
	Identity    string     `json:"identity"`
	Runtime     string     `json:"runtime,omitempty"`
	ContainerID string     `json:"container_id,omitempty"`
	PodUID      string     `json:"pod_uid,omitempty"`
	Namespace   string     `json:"namespace,omitempty"`
	Pod         string     `json:"pod,omitempty"`
	Container   string     `json:"container,omitempty"`
	Records     uint64     `json:"records"`
	Written     uint64     `json:"written"`
	Overwritten uint64     `json:"overwritten"`
	Oldest      *time.Time `json:"oldest,omitempty"`
	Newest      *time.Time `json:"newest,omitempty"`
	Live        bool       `json:"live"`
	FrozenAt    *time.Time `json:"frozen_at,omitempty"`
	Ended       string     `json:"ended,omitempty"`
}

// Index is the /dump?format=json answer without cgroup= or pod=.
type Index struct {
	Node             string        `json:"node"`
	Rings            []RingSummary `json:"rings"`
	Frozen           []RingSummary `json:"frozen"`
	RingSize         int           `json:"ring_size"`
	MaxRings         int           `json:"max_rings"`
	UntrackedCgroups int           `json:"untracked_cgroups"`
}

func (h *Handler) index(who caller) (Index, error) {
	rings, untracked, err := h.Source.Rings()
	if err != nil {
		return Index{}, err
	}
	cfg := h.Source.Config()
	clock := h.clock()
	// Only what the caller may read, asked once per namespace.
	seen := map[string]bool{}
	visible := func(namespace string) (bool, error) {
		if !h.Namespaces.Allows(namespace) {
			return false, nil
		}
		ok, known := seen[namespace]
		if !known {
			var err error
			if ok, err = h.permits(who, namespace); err != nil {
				return false, err
			}
			seen[namespace] = ok
		}
		return ok, nil
	}
	idx := Index{Node: h.Node, RingSize: cfg.RingSize, MaxRings: cfg.MaxRings, UntrackedCgroups: len(untracked),
		Rings: []RingSummary{}, Frozen: []RingSummary{}}
	for _, r := range rings {
		path, live, ok := h.Resolver.Path(r.CgroupID)
		if !ok || path == "" {
			path = fmt.Sprintf("<removed cgroup %d>", r.CgroupID)
		}
		s := summary(path)
		s.CgroupID, s.Written, s.Overwritten, s.Live = r.CgroupID, r.Written, r.Overwritten(cfg.RingSize), live
		if l, ok := h.Resolver.Labels(r.CgroupID); ok {
			s.Namespace, s.Pod, s.Container = l.Namespace, l.Pod, l.Container
		}
		if ok, err := visible(s.Namespace); err != nil {
			return Index{}, err
		} else if !ok {
			continue
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
	for _, f := range h.Store.All() {
		if ok, err := visible(f.Labels.Namespace); err != nil {
			return Index{}, err
		} else if !ok {
			continue
		}
		s := summary(f.Cgroup)
		at := f.FrozenAt
		s.CgroupID, s.Written, s.Overwritten, s.FrozenAt, s.Ended = f.CgroupID, f.Written, f.Overwritten, &at, f.Ended
		s.Namespace, s.Pod, s.Container = f.Labels.Namespace, f.Labels.Pod, f.Labels.Container
		s.Records = uint64(len(f.Records))
		if n := len(f.Records); n > 0 {
			oldest, newest := clock.Wall(f.Records[0].EnterNs), clock.Wall(f.Records[n-1].EnterNs)
			s.Oldest, s.Newest = &oldest, &newest
		}
		idx.Frozen = append(idx.Frozen, s)
	}
	return idx, nil
}

func summary(path string) RingSummary {
	id := cgroupid.Parse(path)
	return RingSummary{Cgroup: path, Identity: id.Label(path), Runtime: id.Runtime, ContainerID: id.ContainerID, PodUID: id.PodUID}
}

func (h *Handler) serveIndex(w http.ResponseWriter, who caller, q Query) error {
	idx, err := h.index(who)
	if err != nil {
		return err
	}
	if q.Format == "json" {
		return writeJSON(w, idx)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "# node=%s: %d rings of %d records (%d max); %d cgroups without a ring (cap reached); %d frozen rings of earlier runs\n",
		idx.Node, len(idx.Rings), idx.RingSize, idx.MaxRings, idx.UntrackedCgroups, len(idx.Frozen))
	fmt.Fprintf(w, "# dump one with %[1]s/dump?cgroup=PATH or %[1]s/dump?namespace=NS&pod=POD[&container=C][&previous=true] (add &format=json, &failed=true, &syscall=openat,connect, &limit=N, &since=5m)\n",
		strings.TrimSuffix(h.BaseURL, "/"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CGROUP\tNAMESPACE\tPOD\tCONTAINER\tIDENTITY\tRECORDS\tOVERWRITTEN\tOLDEST\tNEWEST\tSPAN\tENDED")
	row := func(r RingSummary) {
		oldest, newest, span, ended := "-", "-", "-", "-"
		if r.Oldest != nil && r.Newest != nil {
			oldest, newest = r.Oldest.Format(time.RFC3339Nano), r.Newest.Format(time.RFC3339Nano)
			span = r.Newest.Sub(*r.Oldest).Round(time.Millisecond).String()
		}
		if r.FrozenAt != nil {
			ended = r.Ended + " (frozen " + r.FrozenAt.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Cgroup, dash(r.Namespace), dash(r.Pod),
			dash(r.Container), r.Identity, r.Records, r.Overwritten, oldest, newest, span, ended)
	}
	for _, r := range idx.Rings {
		row(r)
	}
	for _, r := range idx.Frozen {
		row(r)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

var _ http.Handler = (*Handler)(nil)
