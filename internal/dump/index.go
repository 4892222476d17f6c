package dump

import (
	"fmt"
	"net/http"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/containers"
)

// Index is the /dump?format=json answer without cgroup= or pod=.
type Index struct {
	Node             string     `json:"node"`
	Rings            []RingInfo `json:"rings"`
	Frozen           []RingInfo `json:"frozen"`
	RingSize         int        `json:"ring_size"`       // records of a large ring
	SmallRingSize    int        `json:"small_ring_size"` // records of a small ring
	LargeRings       int        `json:"large_rings"`     // rings promoted to the large class
	MaxRings         int        `json:"max_rings"`
	UntrackedCgroups int        `json:"untracked_cgroups"`
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
	idx := Index{Node: h.Node, RingSize: cfg.RingSize, SmallRingSize: cfg.SmallRingSize, MaxRings: cfg.MaxRings, UntrackedCgroups: len(untracked),
		Rings: []RingInfo{}, Frozen: []RingInfo{}}
	for _, r := range rings {
		if r.Large {
			idx.LargeRings++
		}
		path, live, ok := h.Resolver.Path(r.CgroupID)
		if !ok || path == "" {
			path = containers.RemovedCgroup(r.CgroupID)
		}
		s := h.liveRing(r, path).info
		s.Live, s.Written, s.Overwritten, s.ExitLost = live, r.Written, r.Overwritten(), r.ExitLost
		s.Capacity, s.Large, s.Late = r.Capacity, r.Large, r.Late
		s.MainPID, s.AppSeq = r.MainPID, r.AppSeq
		s.Incidents, s.Suppressed = r.Incidents, r.Suppressed
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
		r := frozenRing(f)
		r.span(clock)
		idx.Frozen = append(idx.Frozen, r.info)
	}
	return idx, nil
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
	fmt.Fprintf(w, "# node=%s: %d rings (%d of %d records, busy ones promoted; %d of %d records; %d max); %d cgroups without a ring (memory budget or slots spent); %d frozen rings of earlier runs\n",
		idx.Node, len(idx.Rings), len(idx.Rings)-idx.LargeRings, idx.SmallRingSize, idx.LargeRings, idx.RingSize, idx.MaxRings,
		idx.UntrackedCgroups, len(idx.Frozen))
	fmt.Fprintf(w, "# dump one with %[1]s/dump?cgroup=PATH or %[1]s/dump?namespace=NS&pod=POD[&container=C][&previous=true] (add &format=json, &failed=true, &syscall=openat,connect, &limit=N, &since=5m)\n",
		strings.TrimSuffix(h.BaseURL, "/"))
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "CGROUP\tNAMESPACE\tPOD\tCONTAINER\tIDENTITY\tRECORDS\tOVERWRITTEN\tINCIDENTS\tOLDEST\tNEWEST\tSPAN\tENDED")
	row := func(r RingInfo) {
		oldest, newest, span, ended := "-", "-", "-", "-"
		if r.Oldest != nil && r.Newest != nil {
			oldest, newest = r.Oldest.Format(time.RFC3339Nano), r.Newest.Format(time.RFC3339Nano)
			span = r.Newest.Sub(*r.Oldest).Round(time.Millisecond).String()
		}
		if r.FrozenAt != nil {
			ended = r.Ended + " (frozen " + r.FrozenAt.Format(time.RFC3339) + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\n", r.Cgroup, dash(r.Namespace), dash(r.Pod),
			dash(r.Container), r.Identity, r.Records, r.Overwritten, r.Incidents, oldest, newest, span, ended)
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
