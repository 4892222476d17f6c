package dump

import (
	"fmt"
	"net/http"
	"sort"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
	"github.com/flightrec/flightrec_exporter/internal/route"
)

// The dump of a pod: its containers' rings interleaved.

// PodDump is the /dump?pod=...&format=json answer: the pod's containers
// interleaved in time order.
type PodDump struct {
	Node      string     `json:"node"`
	Namespace string     `json:"namespace"`
	Pod       string     `json:"pod"`
	Previous  int        `json:"previous"`
	Note      string     `json:"note,omitempty"`
	Rings     []RingInfo `json:"rings"`
	Entries   []Entry    `json:"entries"`
}

// RecentRestart is how recent the end of a container's previous run must be
// for a live pod dump to show that run too.
const RecentRestart = 10 * time.Minute

// podRings finds the rings of a pod on this node.
func (h *Handler) podRings(q Query) ([]ring, error) {
	match := func(l containers.Labels) bool {
		return l.Pod == q.Pod && (q.Namespace == "" || l.Namespace == q.Namespace) &&
			(q.Container == "" || l.Container == q.Container)
	}
	var found []ring
	if q.Previous == 0 {
		rings, _, err := h.Source.Rings()
		if err != nil {
			return nil, err
		}
		for _, r := range rings {
			path, live, ok := h.Resolver.Path(r.CgroupID)
			if !ok || !live {
				continue
			}
			if l, ok := h.Resolver.Labels(r.CgroupID); ok && match(l) {
				found = append(found, h.liveRing(r, path))
			}
		}
		// A container that restarted lately (a crash loop) shows its last run
		// before the current one: that is where the crash is.
		now := h.now()
		for _, r := range found {
			l := containers.Labels{Namespace: r.info.Namespace, Pod: r.info.Pod, Container: r.info.Container}
			if p, ok := h.Store.Previous(1, func(g *frozen.Ring) bool { return g.Labels == l }); ok && now.Sub(p.FrozenAt) < RecentRestart {
				found = append(found, frozenRing(p))
			}
		}
	} else {
		// The n-th previous run of each container of the pod.
		seen := map[containers.Labels]bool{}
		for _, f := range h.Store.All() {
			if match(f.Labels) && !seen[f.Labels] {
				seen[f.Labels] = true
				l := f.Labels
				if p, ok := h.Store.Previous(q.Previous, func(g *frozen.Ring) bool { return g.Labels == l }); ok {
					found = append(found, frozenRing(p))
				}
			}
		}
	}
	namespaces := map[string]bool{}
	for _, r := range found {
		namespaces[r.info.Namespace] = true
	}
	if err := route.Ambiguous(q.Pod, namespaces); err != nil {
		return nil, &httpError{http.StatusBadRequest, err.Error()}
	}
	sort.SliceStable(found, func(i, j int) bool { return found[i].info.Container < found[j].info.Container })
	return found, nil
}

func (h *Handler) servePod(w http.ResponseWriter, req *http.Request, who caller, q Query) error {
	if q.Namespace != "" {
		// Before anything is looked up or forwarded: the answer for a
		// namespace the caller may not read does not tell whether the pod exists.
		if err := h.allowed(who, q.Namespace); err != nil {
			return err
		}
	}
	rings, err := h.podRings(q)
	if err != nil {
		return err
	}
	if q.CgroupID != 0 {
		// One run, as an exemplar names it: of this pod, on this node.
		run, ok, err := h.runByID(q.CgroupID)
		if err != nil {
			return err
		}
		rings = nil
		if ok && run.info.Pod == q.Pod && (q.Namespace == "" || run.info.Namespace == q.Namespace) &&
			(q.Container == "" || run.info.Container == q.Container) {
			rings = []ring{run}
		}
	}
	fellBack := false
	if len(rings) == 0 && q.Previous == 0 && q.CgroupID == 0 {
		// Not running now (a crash-looping container between restarts):
		// its last run is what the person following an alert's link needs.
		last := q
		last.Previous = 1
		if rings, err = h.podRings(last); err != nil {
			return err
		}
		fellBack = len(rings) > 0
	}
	if len(rings) == 0 {
		if h.Router != nil && h.Router.Route(w, req, q.Namespace, q.Pod) {
			return nil
		}
		what := q.Pod
		if q.Namespace != "" {
			what = q.Namespace + "/" + q.Pod
		}
		if q.Container != "" {
			what += " container " + q.Container
		}
		if q.Previous > 0 {
			return notFound("no earlier run of pod %s is kept on node %s (previous=%d)", what, h.Node, q.Previous)
		}
		if q.CgroupID != 0 {
			return notFound("no run of pod %s with cgroup_id %d is kept on node %s", what, q.CgroupID, h.Node)
		}
		return notFound("pod %s has no ring on node %s, and no other node is known to run it", what, h.Node)
	}
	if err := h.allowed(who, rings[0].info.Namespace); err != nil {
		return err
	}
	d := PodDump{Node: h.Node, Namespace: rings[0].info.Namespace, Pod: q.Pod, Previous: q.Previous}
	if fellBack {
		d.Previous = 1
		d.Note = "no container of this pod is running on this node now: showing the last run"
	}
	if q.Around > 0 && q.Container == "" {
		return &httpError{http.StatusBadRequest, fmt.Sprintf("around=%d names a record of one container's ring: add container=", q.Around)}
	}
	for i := range rings {
		if err := h.load(&rings[i]); err != nil {
			return err
		}
	}
	if q.Around > 0 {
		r, err := newestHolding(q, rings)
		if err != nil {
			return err
		}
		rings = []ring{r}
	}
	for i := range rings {
		rings[i].span(h.clock())
		d.Rings = append(d.Rings, rings[i].info)
	}
	d.Entries = h.entries(q, rings, true)
	if q.Format == "json" {
		return writeJSON(w, d)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "# node=%s namespace=%s pod=%s previous=%d shown=%d\n", d.Node, d.Namespace, d.Pod, d.Previous, len(d.Entries))
	if d.Note != "" {
		fmt.Fprintf(w, "# %s\n", d.Note)
	}
	for _, r := range d.Rings {
		writeRingHeader(w, r, -1)
	}
	return WriteText(w, d.Entries, true)
}
