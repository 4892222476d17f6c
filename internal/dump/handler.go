// Package dump serves /dump: the index of the recorder's rings, and the
// recent syscalls of a container or a pod decoded like strace, live or from
// the frozen ring of an earlier run.
package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/authz"
	"github.com/flightrec/flightrec_exporter/internal/cgroupid"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/redact"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Source is what the handler reads rings from: the loaded recorder.
type Source interface {
	Rings() ([]bpf.Ring, []uint64, error)
	Read(cgroupID uint64, slot uint32) (bpf.Snapshot, error)
	Record(slot uint32, seq uint64) (bpf.Record, bool)
	Config() bpf.Config
}

// Router sends a pod dump to the exporter of the node that runs the pod.
type Router interface {
	// Route answers r from another node's exporter when the pod runs
	// there; false when it knows no other node for the pod.
	Route(w http.ResponseWriter, r *http.Request, namespace, pod string) bool
}

// Handler answers /dump.
type Handler struct {
	Source   Source
	Cgroups  *cgroups.Hierarchy
	Resolver *containers.Resolver
	Store    *Store
	Router   Router // nil: no forwarding
	Parent   string // recorded cgroups live below this path
	Node     string // this node's name, shown in pod dumps
	BaseURL  string // how people reach this exporter (--web.external-url), for printed links
	Arch     syscalls.Arch
	Logger   *slog.Logger
	// Namespaces limits what can be dumped (--dump.namespaces,
	// --dump.exclude-namespaces); nil allows everything.
	Namespaces *NamespaceFilter
	// Authz, when set, lets a request read only the namespaces where its
	// bearer token's user has the access Authz checks (Kubernetes RBAC);
	// nil: whoever reaches the handler reads everything Namespaces allows.
	Authz *authz.Authorizer
	// Redact hides secrets in argv, strings and buffers before they are
	// shown (--dump.redact); nil shows them as recorded.
	Redact *redact.Redactor
	// Slots bounds the dumps served at once (--dump.max-concurrent); more
	// are refused with 429. nil: no bound.
	Slots chan struct{}
	// Clock turns kernel timestamps into wall-clock time, and Now is the
	// time of a request; nil: the system's clocks. Tests fix them.
	Clock func() Clock
	Now   func() time.Time

	torn atomic.Uint64
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) clock() Clock {
	if h.Clock != nil {
		return h.Clock()
	}
	return NewClock()
}

// InProgress is the number of dumps being served.
func (h *Handler) InProgress() int { return len(h.Slots) }

// TornTotal counts records dropped by dumps because they were overwritten
// while being copied.
func (h *Handler) TornTotal() uint64 { return h.torn.Load() }

// httpError is an error with the status it should be answered with.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func notFound(format string, args ...any) error {
	return &httpError{http.StatusNotFound, fmt.Sprintf(format, args...)}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "only GET is supported", http.StatusMethodNotAllowed)
		return
	}
	q, err := ParseQuery(req.URL.Query(), h.Arch, h.now())
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	var user *authz.User
	if h.Authz != nil {
		if user, err = h.Authz.Authenticate(req.Context(), req); err != nil {
			h.authError(w, err)
			return
		}
	}
	if h.Slots != nil {
		select {
		case h.Slots <- struct{}{}:
			defer func() { <-h.Slots }()
		default:
			w.Header().Set("Retry-After", "1")
			http.Error(w, fmt.Sprintf("too many dumps in progress (%d, --dump.max-concurrent): retry shortly", cap(h.Slots)), http.StatusTooManyRequests)
			return
		}
	}
	sw := &startedWriter{ResponseWriter: w}
	w = sw
	who := caller{ctx: req.Context(), user: user}
	switch {
	case q.Cgroup != "":
		err = h.serveCgroup(w, who, q)
	case q.Pod != "":
		err = h.servePod(w, req, who, q)
	default:
		err = h.serveIndex(w, who, q)
	}
	if err != nil && sw.started {
		// The answer was on its way: a client gone or too slow (--web.write-timeout).
		h.Logger.Debug("dump cut short", "err", err)
		return
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

// startedWriter notes whether the answer has begun, after which an error
// can no longer change its status.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

func (w *startedWriter) WriteHeader(code int) {
	w.started = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	return w.ResponseWriter.Write(b)
}

// RingInfo describes one ring in a dump.
type RingInfo struct {
	Cgroup      string     `json:"cgroup"`
	CgroupID    uint64     `json:"cgroup_id"`
	Identity    string     `json:"identity"`
	Namespace   string     `json:"namespace,omitempty"`
	Pod         string     `json:"pod,omitempty"`
	Container   string     `json:"container,omitempty"`
	Written     uint64     `json:"written"`
	Overwritten uint64     `json:"overwritten"`
	Torn        uint64     `json:"torn"`
	ExitLost    uint64     `json:"exit_lost"`
	FrozenAt    *time.Time `json:"frozen_at,omitempty"` // set for the ring of an earlier run
	Ended       string     `json:"ended,omitempty"`     // how that run ended
	Restarts    *int       `json:"restarts,omitempty"`  // Kubernetes: restarts of the container before this run
}

// RingDump is the /dump?cgroup=...&format=json answer.
type RingDump struct {
	RingInfo
	Entries []Entry `json:"entries"`
}

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

// ring is a ring to dump: live in the kernel or frozen in the store.
type ring struct {
	info    RingInfo
	live    bool
	slot    uint32
	records []bpf.Record
}

func (h *Handler) liveRing(r bpf.Ring, path string) ring {
	l, _ := h.Resolver.Labels(r.CgroupID)
	info := RingInfo{
		Cgroup: path, CgroupID: r.CgroupID, Identity: cgroupid.Parse(path).Label(path),
		Namespace: l.Namespace, Pod: l.Pod, Container: l.Container,
	}
	if n, ok := h.Resolver.Restarts(r.CgroupID); ok {
		info.Restarts = &n
	}
	return ring{live: true, slot: r.Slot, info: info}
}

func frozenRing(f *Frozen) ring {
	at := f.FrozenAt
	return ring{records: f.Records, info: RingInfo{
		Cgroup: f.Cgroup, CgroupID: f.CgroupID, Identity: cgroupid.Parse(f.Cgroup).Label(f.Cgroup),
		Namespace: f.Labels.Namespace, Pod: f.Labels.Pod, Container: f.Labels.Container,
		Written: f.Written, Overwritten: f.Overwritten, Torn: f.Torn, FrozenAt: &at, Ended: f.Ended,
		Restarts: f.Restarts,
	}}
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
	r.info.Overwritten = snap.Ring.Overwritten(h.Source.Config().RingSize)
	r.info.Torn = snap.Torn
	r.info.ExitLost = snap.Ring.ExitLost
	return nil
}

// entries decodes and filters the records of rings, merged in time order.
func (h *Handler) entries(q Query, rings []ring, withContainer bool) []Entry {
	clock := h.clock()
	out := []Entry{}
	for _, r := range rings {
		for i := range r.records {
			e := Decode(h.Arch, clock, Redacted(h.Redact, &r.records[i]))
			if withContainer {
				e.Container = r.info.Container
				if e.Container == "" {
					e.Container = r.info.Identity
				}
			}
			if q.keep(&e) {
				out = append(out, e)
			}
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
	if q.Previous > 0 {
		f, ok := h.Store.Previous(q.Previous, func(f *Frozen) bool { return f.Cgroup == path })
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
		if _, ok := h.Store.Previous(1, func(f *Frozen) bool { return f.Cgroup == path }); ok {
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
		"cgroup %s has no ring: nothing in it has made a syscall since the exporter started, it is not below %s, or every ring was taken (see /dump)",
		path, h.Parent)
}

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
			if p, ok := h.Store.Previous(1, func(g *Frozen) bool { return g.Labels == l }); ok && now.Sub(p.FrozenAt) < RecentRestart {
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
				if p, ok := h.Store.Previous(q.Previous, func(g *Frozen) bool { return g.Labels == l }); ok {
					found = append(found, frozenRing(p))
				}
			}
		}
	}
	namespaces := map[string]bool{}
	for _, r := range found {
		namespaces[r.info.Namespace] = true
	}
	if len(namespaces) > 1 {
		var names []string
		for n := range namespaces {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, &httpError{http.StatusBadRequest, fmt.Sprintf(
			"pod %q exists in several namespaces (%s): add namespace=", q.Pod, strings.Join(names, ", "))}
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
	fellBack := false
	if len(rings) == 0 && q.Previous == 0 {
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
	for i := range rings {
		if err := h.load(&rings[i]); err != nil {
			return err
		}
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

// caller is who asks for a dump: the user its bearer token names, when
// dumps follow Kubernetes RBAC (Handler.Authz).
type caller struct {
	ctx  context.Context
	user *authz.User
}

// allowed checks that the caller may read the dumps of namespace: the
// namespace filter first, then Kubernetes RBAC.
func (h *Handler) allowed(who caller, namespace string) error {
	what := "namespace " + namespace
	if namespace == "" {
		what = "containers outside Kubernetes namespaces"
	}
	if !h.Namespaces.Allows(namespace) {
		return &httpError{http.StatusForbidden, fmt.Sprintf("dumps of %s are not allowed on this exporter (--dump.namespaces / --dump.exclude-namespaces)", what)}
	}
	ok, err := h.permits(who, namespace)
	if err != nil {
		return err
	}
	if !ok {
		where := "in namespace " + namespace
		if namespace == "" {
			where = "in every namespace (cluster-wide)"
		}
		return &httpError{http.StatusForbidden, fmt.Sprintf(
			"user %q may not read dumps of %s: that needs the Kubernetes permission to %s %s (--dump.authz)",
			who.user.Name, what, h.Authz.Rule(), where)}
	}
	return nil
}

// permits asks Kubernetes RBAC whether the caller may read the dumps of
// namespace; without Authz, everyone may.
func (h *Handler) permits(who caller, namespace string) (bool, error) {
	if h.Authz == nil {
		return true, nil
	}
	ok, err := h.Authz.Allowed(who.ctx, who.user, namespace)
	if err != nil {
		h.Logger.Error("checking access to a dump", "user", who.user.Name, "namespace", namespace, "err", err)
		return false, &httpError{http.StatusServiceUnavailable, err.Error()}
	}
	return ok, nil
}

// authError answers a request whose bearer token could not be checked.
func (h *Handler) authError(w http.ResponseWriter, err error) {
	if errors.Is(err, authz.ErrUnavailable) {
		h.Logger.Error("checking a dump request's token", "err", err)
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="flightrec_exporter"`)
	http.Error(w, "unauthorized: "+err.Error()+
		" (dumps follow Kubernetes RBAC: use a token of someone who may "+h.Authz.Rule()+" in the pod's namespace)",
		http.StatusUnauthorized)
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

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(v)
}
