// Package dump serves /dump: the index of the recorder's rings, and the
// recent syscalls of a container or a pod decoded like strace, live or from
// the frozen ring of an earlier run.
package dump

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/authz"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
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
	Store    *frozen.Store
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
	Clock func() bpf.Clock
	Now   func() time.Time

	torn atomic.Uint64
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) clock() bpf.Clock {
	if h.Clock != nil {
		return h.Clock()
	}
	return bpf.NewClock()
}

var (
	inProgressDesc = prometheus.NewDesc("flightrec_dump_in_progress",
		"Dumps being served now (--dump.max-concurrent bounds it).", nil, nil)
	tornDesc = prometheus.NewDesc("flightrec_recorder_records_torn_total",
		"Records dropped by /dump because they were overwritten while being copied.", nil, nil)
)

// Describe and Collect make the handler a prometheus.Collector of the
// dumps in progress and the torn records it dropped.
func (h *Handler) Describe(ch chan<- *prometheus.Desc) {
	ch <- inProgressDesc
	ch <- tornDesc
}

// Collect reports the dumps being served and the records dropped as torn.
func (h *Handler) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(inProgressDesc, prometheus.GaugeValue, float64(len(h.Slots)))
	ch <- prometheus.MustNewConstMetric(tornDesc, prometheus.CounterValue, float64(h.torn.Load()))
}

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

func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(v)
}
