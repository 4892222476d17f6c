// Package kubetest is a fake Kubernetes API server for tests: it speaks
// enough of the core/v1 pods API (list, watch, streaming list, get) over
// plain HTTP for client-go informers and clients, so that a test can run the
// real exporter with --kubeconfig pointing at it and change pods while it
// runs. It also answers TokenReviews and SubjectAccessReviews from a table of
// tokens and rules (AddToken, Allow).
package kubetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

// lastRV numbers changes across all servers of the process, so that a
// server started again at the same address never reuses a resource version
// that a client may still hold.
var lastRV atomic.Uint64

func nextRV() uint64 { return lastRV.Add(1) }

// Server is a fake API server holding pods in memory.
type Server struct {
	t    testing.TB
	addr string
	srv  *http.Server
	l    net.Listener

	mu      sync.Mutex
	firstRV uint64 // resource version when the server started
	rv      uint64 // latest resource version
	pods    map[string]*corev1.Pod
	events  []event
	changed chan struct{} // closed and replaced on every change

	done      chan struct{}
	closeOnce sync.Once
	closeMu   sync.RWMutex // guards closed and handlers.Add against Close
	closed    bool
	handlers  sync.WaitGroup
	served    chan struct{}
	requests  atomic.Int64
	noStream  atomic.Bool

	tokens  map[string]Identity // guarded by mu
	rules   []Rule
	reviews []Review
}

type event struct {
	typ  watch.EventType
	pod  *corev1.Pod // state after the change (last state for DELETED)
	prev *corev1.Pod // state before a MODIFIED change
	rv   uint64
}

// NewServer starts a server on 127.0.0.1 at a random port. It is closed
// when the test ends.
func NewServer(t testing.TB) *Server {
	t.Helper()
	return NewServerAt(t, "127.0.0.1:0")
}

// NewServerAt starts a server on addr, for instance one picked with
// FreeAddr that a client was already configured with. It is closed when the
// test ends.
func NewServerAt(t testing.TB, addr string) *Server {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("kubetest: listen on %s: %v", addr, err)
	}
	rv := nextRV()
	s := &Server{
		t:       t,
		addr:    l.Addr().String(),
		l:       l,
		firstRV: rv,
		rv:      rv,
		pods:    map[string]*corev1.Pod{},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
		served:  make(chan struct{}),
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.served)
		_ = s.srv.Serve(l)
	}()
	t.Cleanup(s.Close)
	return s
}

// FreeAddr returns a 127.0.0.1 address where nothing listens at the time
// of the call, to start a client against an API server that comes later.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kubetest: find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("kubetest: release port %s: %v", addr, err)
	}
	return addr
}

// Addr returns the host:port the server listens on.
func (s *Server) Addr() string { return s.addr }

// URL returns the base URL of the server.
func (s *Server) URL() string { return "http://" + s.addr }

// Requests returns the number of requests served so far.
func (s *Server) Requests() int64 { return s.requests.Load() }

// Close stops the server: open watches end and further connections are
// refused. It waits for the handlers to return, and may be called again.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		s.closeMu.Unlock()
		close(s.done)
		_ = s.srv.Close()
		<-s.served
		s.handlers.Wait()
	})
}

// SetStreamingLists turns support for streaming lists (watch with
// sendInitialEvents=true) on or off; it is on by default. Off, such a watch
// is refused with 422 like an API server without the WatchList feature,
// and clients fall back to list and watch.
func (s *Server) SetStreamingLists(on bool) { s.noStream.Store(!on) }

// Kubeconfig writes a kubeconfig for the server (plain http, no
// authentication) to a temporary directory and returns its path.
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	return KubeconfigFor(t, s.addr)
}

// KubeconfigFor writes a kubeconfig for an API server at addr (host:port),
// where nothing needs to listen yet, and returns its path.
func KubeconfigFor(t testing.TB, addr string) string {
	t.Helper()
	const tmpl = `apiVersion: v1
kind: Config
clusters:
- name: kubetest
  cluster:
    server: http://%s
contexts:
- name: kubetest
  context:
    cluster: kubetest
    user: kubetest
current-context: kubetest
users:
- name: kubetest
  user: {}
`
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, fmt.Appendf(nil, tmpl, addr), 0o600); err != nil {
		t.Fatalf("kubetest: write kubeconfig: %v", err)
	}
	return path
}

// Pod builds a running pod with the given containers, name -> runtime id
// (stored as "containerd://<id>" unless it already has a scheme).
func Pod(namespace, name, uid, node, ip string, containers map[string]string) *corev1.Pod {
	now := metav1.Now()
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID(uid), CreationTimestamp: now},
		Spec:       corev1.PodSpec{NodeName: node},
		Status: corev1.PodStatus{
			Phase:     corev1.PodRunning,
			PodIP:     ip,
			StartTime: &now,
			Conditions: []corev1.PodCondition{
				{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now},
			},
		},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	names := make([]string, 0, len(containers))
	for n := range containers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		id := containers[n]
		if id != "" && !strings.Contains(id, "://") {
			id = "containerd://" + id
		}
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "kubetest/" + n})
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
			Name:        n,
			ContainerID: id,
			Image:       "kubetest/" + n,
			Ready:       true,
			Started:     new(true),
			State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	return p
}

func key(namespace, name string) string { return namespace + "/" + name }

// AddPod creates a pod from a copy of p; a pod without UID gets a
// generated one in the server's copy.
func (s *Server) AddPod(p *corev1.Pod) {
	s.t.Helper()
	p = p.DeepCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(p.Namespace, p.Name)
	if _, ok := s.pods[k]; ok {
		s.t.Errorf("kubetest: AddPod: pod %s exists", k)
		return
	}
	if p.UID == "" {
		p.UID = types.UID(fmt.Sprintf("00000000-0000-4000-8000-%012d", nextRV()))
	}
	if p.CreationTimestamp.IsZero() {
		p.CreationTimestamp = metav1.Now()
	}
	s.record(watch.Added, p, nil)
}

// UpdatePod replaces a pod (found by namespace and name) with p.
func (s *Server) UpdatePod(p *corev1.Pod) {
	s.t.Helper()
	p = p.DeepCopy()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(p.Namespace, p.Name)
	old, ok := s.pods[k]
	if !ok {
		s.t.Errorf("kubetest: UpdatePod: no pod %s", k)
		return
	}
	if p.UID == "" {
		p.UID = old.UID
	}
	if p.CreationTimestamp.IsZero() {
		p.CreationTimestamp = old.CreationTimestamp
	}
	s.record(watch.Modified, p, old)
}

// DeletePod deletes a pod.
func (s *Server) DeletePod(namespace, name string) {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	k := key(namespace, name)
	old, ok := s.pods[k]
	if !ok {
		s.t.Errorf("kubetest: DeletePod: no pod %s", k)
		return
	}
	s.record(watch.Deleted, old.DeepCopy(), nil)
}

// record applies a change under s.mu and wakes up the watches.
func (s *Server) record(typ watch.EventType, p, prev *corev1.Pod) {
	rv := nextRV()
	s.rv = rv
	p.TypeMeta = metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"}
	p.ResourceVersion = strconv.FormatUint(rv, 10)
	k := key(p.Namespace, p.Name)
	if typ == watch.Deleted {
		delete(s.pods, k)
	} else {
		s.pods[k] = p
	}
	s.events = append(s.events, event{typ: typ, pod: p, prev: prev, rv: rv})
	close(s.changed)
	s.changed = make(chan struct{})
}

// filter selects pods by namespace and selectors.
type filter struct {
	namespace string
	fields    fields.Selector
	labels    labels.Selector
}

// podFields are the field selectors the server knows.
var podFields = []string{"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "status.podIP", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName"}

func parseFilter(namespace string, q map[string][]string) (filter, error) {
	f := filter{namespace: namespace, fields: fields.Everything(), labels: labels.Everything()}
	if s := first(q, "fieldSelector"); s != "" {
		sel, err := fields.ParseSelector(s)
		if err != nil {
			return f, fmt.Errorf("invalid fieldSelector %q: %w", s, err)
		}
		for _, r := range sel.Requirements() {
			if !slices.Contains(podFields, r.Field) {
				return f, fmt.Errorf("field label not supported: %s", r.Field)
			}
		}
		f.fields = sel
	}
	if s := first(q, "labelSelector"); s != "" {
		sel, err := labels.Parse(s)
		if err != nil {
			return f, fmt.Errorf("invalid labelSelector %q: %w", s, err)
		}
		f.labels = sel
	}
	return f, nil
}

func (f filter) matches(p *corev1.Pod) bool {
	if p == nil || (f.namespace != "" && p.Namespace != f.namespace) {
		return false
	}
	set := fields.Set{
		"metadata.name":           p.Name,
		"metadata.namespace":      p.Namespace,
		"spec.nodeName":           p.Spec.NodeName,
		"status.phase":            string(p.Status.Phase),
		"status.podIP":            p.Status.PodIP,
		"spec.restartPolicy":      string(p.Spec.RestartPolicy),
		"spec.schedulerName":      p.Spec.SchedulerName,
		"spec.serviceAccountName": p.Spec.ServiceAccountName,
	}
	return f.fields.Matches(set) && f.labels.Matches(labels.Set(p.Labels))
}

func first(q map[string][]string, k string) string {
	if v := q[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		writeStatus(w, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable, "server closed")
		return
	}
	s.handlers.Add(1)
	s.closeMu.RUnlock()
	defer s.handlers.Done()
	s.requests.Add(1)
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authentication.k8s.io/v1/tokenreviews":
		s.serveTokenReview(w, r)
		return
	case r.Method == http.MethodPost && r.URL.Path == "/apis/authorization.k8s.io/v1/subjectaccessreviews":
		s.serveSubjectAccessReview(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, fmt.Sprintf("method %s not allowed", r.Method))
		return
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.URL.Path == "/version":
		writeJSON(w, http.StatusOK, map[string]string{"major": "1", "minor": "37", "gitVersion": "v1.37.2-kubetest", "platform": "linux/amd64"})
	case r.URL.Path == "/api":
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIVersions", "versions": []string{"v1"},
			"serverAddressByClientCIDRs": []map[string]string{{"clientCIDR": "0.0.0.0/0", "serverAddress": s.addr}}})
	case r.URL.Path == "/apis":
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{}})
	case r.URL.Path == "/api/v1":
		writeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1",
			"resources": []map[string]any{{"name": "pods", "singularName": "pod", "namespaced": true, "kind": "Pod",
				"verbs": []string{"get", "list", "watch"}}}})
	case len(parts) == 3 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "pods":
		s.servePods(w, r, "")
	case len(parts) == 5 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" && parts[4] == "pods":
		s.servePods(w, r, parts[3])
	case len(parts) == 6 && parts[0] == "api" && parts[1] == "v1" && parts[2] == "namespaces" && parts[4] == "pods":
		s.serveGet(w, parts[3], parts[5])
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("the server could not find the requested resource %s", r.URL.Path))
	}
}

func (s *Server) serveGet(w http.ResponseWriter, namespace, name string) {
	s.mu.Lock()
	p, ok := s.pods[key(namespace, name)]
	s.mu.Unlock()
	if !ok {
		st := status(http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("pods %q not found", name))
		st.Details = &metav1.StatusDetails{Name: name, Kind: "pods"}
		writeJSON(w, http.StatusNotFound, st)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

func (s *Server) servePods(w http.ResponseWriter, r *http.Request, namespace string) {
	q := r.URL.Query()
	f, err := parseFilter(namespace, q)
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	rv, err := parseRV(first(q, "resourceVersion"))
	if err != nil {
		writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
		return
	}
	if wq := first(q, "watch"); wq == "true" || wq == "1" {
		initialEvents := first(q, "sendInitialEvents") == "true"
		if initialEvents && s.noStream.Load() {
			writeStatus(w, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid,
				"ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
			return
		}
		s.serveWatch(w, r, f, rv, initialEvents, first(q, "timeoutSeconds"))
		return
	}
	s.mu.Lock()
	cur := s.rv
	list := &corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	for _, p := range s.pods {
		if f.matches(p) {
			list.Items = append(list.Items, *p)
		}
	}
	s.mu.Unlock()
	if rv > cur {
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("resource version %d is not known to this server", rv))
		return
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int { return strings.Compare(key(a.Namespace, a.Name), key(b.Namespace, b.Name)) })
	list.ResourceVersion = strconv.FormatUint(cur, 10)
	writeJSON(w, http.StatusOK, list)
}

func parseRV(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid resourceVersion %q", s)
	}
	return rv, nil
}

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   watch.EventType `json:"type"`
	Object any             `json:"object"`
}

func (s *Server) serveWatch(w http.ResponseWriter, r *http.Request, f filter, rv uint64, initialEvents bool, timeout string) {
	ctx := r.Context()
	if secs, err := strconv.Atoi(timeout); err == nil && secs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(secs)*time.Second)
		defer cancel()
	}
	s.mu.Lock()
	cur, firstRV := s.rv, s.firstRV
	s.mu.Unlock()
	// A resource version from before this server started (another server
	// at the same address) or from its future cannot be watched from: the
	// client must list again.
	if rv != 0 && (rv < firstRV || rv > cur) {
		writeStatus(w, http.StatusGone, metav1.StatusReasonExpired, fmt.Sprintf("too old resource version: %d (%d)", rv, firstRV))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, private")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	if err := rc.Flush(); err != nil {
		return
	}
	enc := json.NewEncoder(w)
	send := func(evs []watchEvent) bool {
		for _, ev := range evs {
			if err := enc.Encode(ev); err != nil {
				return false
			}
		}
		return rc.Flush() == nil
	}

	// Where the stream starts: a snapshot of the current pods for a
	// streaming list or a watch without resource version, else the changes
	// after rv.
	s.mu.Lock()
	from := rv
	var initial []watchEvent
	if initialEvents || rv == 0 {
		from = s.rv
		for _, p := range s.sortedPods() {
			if f.matches(p) {
				initial = append(initial, watchEvent{Type: watch.Added, Object: p})
			}
		}
		if initialEvents {
			initial = append(initial, watchEvent{Type: watch.Bookmark, Object: &corev1.Pod{
				TypeMeta: metav1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
				ObjectMeta: metav1.ObjectMeta{
					ResourceVersion: strconv.FormatUint(s.rv, 10),
					Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
				},
			}})
		}
	}
	s.mu.Unlock()
	if !send(initial) {
		return
	}
	for {
		s.mu.Lock()
		var evs []watchEvent
		for _, e := range s.events {
			if e.rv > from {
				if ev, ok := e.visible(f); ok {
					evs = append(evs, ev)
				}
			}
		}
		from = s.rv
		changed := s.changed
		s.mu.Unlock()
		if !send(evs) {
			return
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return
		case <-s.done:
			return
		}
	}
}

// visible tells how a change looks through a filter: a pod that starts
// matching is ADDED, one that stops matching is DELETED.
func (e event) visible(f filter) (watchEvent, bool) {
	now := f.matches(e.pod)
	switch e.typ {
	case watch.Modified:
		before := f.matches(e.prev)
		switch {
		case before && now:
			return watchEvent{Type: watch.Modified, Object: e.pod}, true
		case now:
			return watchEvent{Type: watch.Added, Object: e.pod}, true
		case before:
			return watchEvent{Type: watch.Deleted, Object: e.pod}, true
		}
		return watchEvent{}, false
	default:
		return watchEvent{Type: e.typ, Object: e.pod}, now
	}
}

func (s *Server) sortedPods() []*corev1.Pod {
	keys := make([]string, 0, len(s.pods))
	for k := range s.pods {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*corev1.Pod, len(keys))
	for i, k := range keys {
		out[i] = s.pods[k]
	}
	return out
}

func status(code int, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Message:  msg,
		Reason:   reason,
		Code:     int32(code),
	}
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, status(code, reason, msg))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(status(code, metav1.StatusReasonInternalError, fmt.Sprintf("encode response: %v", err)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}
