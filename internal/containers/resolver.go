// Package containers names the cgroups the recorder sees: it turns a cgroup
// id into the labels of metrics and dumps, and remembers cgroups that went
// away until their series have been scraped one last time.
package containers

import (
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"strings"
	"sync"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroupid"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
)

// Labels identify a container in metrics and dumps. On a plain host
// Namespace and Pod are empty and Container is the cgroup path.
type Labels struct {
	Namespace string
	Pod       string
	Container string
}

type entry struct {
	path    string
	id      cgroupid.Identity
	goneAt  time.Time // zero while the cgroup exists
	expired bool      // grace period over: forgotten at the next Forget
	named   *Labels   // the last names the directory gave, kept when the pod is deleted
}

func newEntry(path string) *entry {
	return &entry{path: path, id: cgroupid.Parse(path)}
}

// Directory names the containers and pods of Kubernetes.
type Directory interface {
	// Container finds a container by runtime id.
	Container(containerID string) (Labels, bool)
	// Pod finds a pod by UID.
	Pod(uid string) (namespace, name string, ok bool)
	// Containers lists the containers of the pods that exist: they live on
	// between two runs (a crash loop's back-off).
	Containers() []Labels
	// Restarts is the restart count of the run with this container id.
	Restarts(containerID string) (int, bool)
}

// SandboxContainer is the container label of a pod's sandbox (pause)
// process, as cAdvisor names it.
const SandboxContainer = "POD"

// Resolver maps cgroup ids below a parent to paths and labels.
type Resolver struct {
	cgroups *cgroups.Hierarchy
	parent  string
	grace   time.Duration

	mu    sync.Mutex
	known map[uint64]*entry
	dir   Directory
}

// SetDirectory makes Labels name Kubernetes containers by namespace, pod
// and container.
func (r *Resolver) SetDirectory(d Directory) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dir = d
}

// NewResolver returns a resolver for the cgroups below parent; a removed
// cgroup keeps its labels for grace.
func NewResolver(h *cgroups.Hierarchy, parent string, grace time.Duration) *Resolver {
	return &Resolver{cgroups: h, parent: parent, grace: grace, known: map[uint64]*entry{}}
}

// Path returns the cgroup path of id, also for a cgroup removed less than
// the grace period ago. live is false for such a removed cgroup.
func (r *Resolver) Path(id uint64) (path string, live, ok bool) {
	r.mu.Lock()
	e, found := r.known[id]
	r.mu.Unlock()
	if !found {
		// A cgroup created since the last walk.
		p, exists := r.cgroups.Path(id, r.parent)
		if !exists {
			return "", false, false
		}
		r.mu.Lock()
		r.known[id] = newEntry(p)
		r.mu.Unlock()
		return p, true, true
	}
	return e.path, e.goneAt.IsZero(), true
}

// Learn records the path of a cgroup as it is created, so that it has a
// name even if it is gone before the next walk.
func (r *Resolver) Learn(id uint64, path string) {
	path = cgroups.Clean(path)
	if r.parent != "/" && !strings.HasPrefix(path, r.parent+"/") {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.known[id]; !ok {
		r.known[id] = newEntry(path)
	}
}

// Forget drops cgroups whose state has been retired.
func (r *Resolver) Forget(ids []uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range ids {
		delete(r.known, id)
	}
}

// LabelSet is the set of labels of the cgroups remembered and not expired:
// a container is alive while one of its runs is.
func (r *Resolver) LabelSet() map[Labels]bool {
	r.mu.Lock()
	entries := make(map[uint64]*entry, len(r.known))
	for id, e := range r.known {
		if !e.expired && e.path != "" {
			entries[id] = e
		}
	}
	dir := r.dir
	r.mu.Unlock()
	set := make(map[Labels]bool, len(entries))
	for id, e := range entries {
		if l, ok := r.labelsOf(id, e, dir); ok {
			set[l] = true
		}
	}
	if dir != nil {
		for _, l := range dir.Containers() {
			set[l] = true
		}
	}
	return set
}

// Labels returns the metric labels of cgroup id. It is false for a cgroup
// whose path was never known, and for a Kubernetes container that no
// directory names yet (the runtime or the API server will; until then its
// series are not exported, and the kernel keeps its counts): a label that
// changed after it was first exported would split the series.
func (r *Resolver) Labels(id uint64) (Labels, bool) {
	if _, _, ok := r.Path(id); !ok {
		return Labels{}, false
	}
	r.mu.Lock()
	e, dir := r.known[id], r.dir
	r.mu.Unlock()
	if e == nil || e.path == "" {
		return Labels{}, false
	}
	return r.labelsOf(id, e, dir)
}

// labelsOf names an entry, through the directory when it knows the
// container, else as it last did (the pod may be gone while the cgroup's
// last run is frozen or its series are in their grace period); a cgroup
// that is no Kubernetes container's is named by its path.
func (r *Resolver) labelsOf(id uint64, e *entry, dir Directory) (Labels, bool) {
	l, ok := directoryLabels(e, dir)
	if !ok && dir != nil && e.id.Kubernetes && e.id.IsContainer() && r.oldestOfPod(id, e) {
		l, ok = sandboxLabels(e, dir)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case ok:
		e.named = &l
		return l, true
	case e.named != nil:
		return *e.named, true
	case dir != nil && e.id.Kubernetes && e.id.IsContainer():
		return Labels{}, false // not named yet
	}
	return Labels{Container: e.path}, true
}

// NameOf names the cgroup at path (which may be gone) as Labels would, and
// gives its restart count where the directory knows it: the frozen rings of
// containers that had no name yet when they ended are named so, later.
func (r *Resolver) NameOf(path string) (l Labels, restarts *int, ok bool) {
	e := newEntry(path)
	r.mu.Lock()
	dir := r.dir
	r.mu.Unlock()
	if l, ok = directoryLabels(e, dir); ok {
		if n, known := dir.Restarts(e.id.ContainerID); known {
			restarts = &n
		}
		return l, restarts, true
	}
	if dir != nil && e.id.Kubernetes && e.id.IsContainer() {
		return Labels{}, nil, false
	}
	return Labels{Container: path}, nil, true
}

// directoryLabels names a Kubernetes container by its runtime id. The
// runtime (CRI) names sandboxes too; the API server does not know them.
func directoryLabels(e *entry, dir Directory) (Labels, bool) {
	if dir != nil && e.id.Kubernetes && e.id.ContainerID != "" {
		return dir.Container(e.id.ContainerID)
	}
	return Labels{}, false
}

// sandboxLabels names the sandbox of a pod the directory knows.
func sandboxLabels(e *entry, dir Directory) (Labels, bool) {
	if e.id.PodUID == "" {
		return Labels{}, false
	}
	ns, pod, ok := dir.Pod(e.id.PodUID)
	return Labels{Namespace: ns, Pod: pod, Container: SandboxContainer}, ok
}

// oldestOfPod reports whether cgroup id is the oldest live container cgroup
// of its pod: the sandbox, which the kubelet creates before any container
// and which lives as long as the pod. Cgroup ids grow with creation. (A
// container that is merely missing from the pod's status, because it
// started and crashed before the kubelet reported it, is younger.)
func (r *Resolver) oldestOfPod(id uint64, e *entry) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !e.goneAt.IsZero() {
		return false
	}
	for other, o := range r.known {
		if other < id && o.goneAt.IsZero() && o.id.PodUID == e.id.PodUID && o.id.IsContainer() {
			return false
		}
	}
	return true
}

// Update walks the hierarchy: it learns new cgroups, marks removed ones, and
// returns the ids whose grace period ended; the caller retires their state,
// then calls Forget. Until it does, they are returned again at every call:
// a pass whose retiring failed is retried by the next. seen are ids the
// kernel holds state for: one that vanished before any walk saw it starts
// its grace period now, unlabelled.
func (r *Resolver) Update(now time.Time, seen []uint64) (expired []uint64, err error) {
	live, err := r.cgroups.Walk(r.parent)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, p := range live {
		if e, ok := r.known[id]; !ok || !e.goneAt.IsZero() {
			r.known[id] = newEntry(p)
		}
	}
	for _, id := range seen {
		if _, ok := r.known[id]; !ok {
			if _, ok := live[id]; !ok {
				r.known[id] = &entry{goneAt: now}
			}
		}
	}
	for id, e := range r.known {
		if _, ok := live[id]; ok {
			continue
		}
		switch {
		case e.goneAt.IsZero():
			e.goneAt = now
		case now.Sub(e.goneAt) >= r.grace:
			e.expired = true
			expired = append(expired, id)
		}
	}
	return expired, nil
}

// Live reports whether the cgroup was present at the last walk.
func (r *Resolver) Live(id uint64) bool {
	_, live, ok := r.Path(id)
	return ok && live
}

// Restarts is how many times the container had restarted before the run in
// cgroup id (Kubernetes only).
func (r *Resolver) Restarts(id uint64) (int, bool) {
	r.mu.Lock()
	e, dir := r.known[id], r.dir
	r.mu.Unlock()
	if e == nil || dir == nil || e.id.ContainerID == "" {
		return 0, false
	}
	return dir.Restarts(e.id.ContainerID)
}

// Len is the number of cgroups the resolver remembers, removed ones in
// their grace period included.
func (r *Resolver) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.known)
}

// RemovedCgroup names a cgroup that is gone and whose path was never
// learnt.
func RemovedCgroup(id uint64) string { return fmt.Sprintf("<removed cgroup %d>", id) }

var knownDesc = prometheus.NewDesc("flightrec_recorder_known_cgroups",
	"Cgroups below the parent the exporter remembers (live ones and removed ones within the grace period).", nil, nil)

// Describe and Collect make the resolver a prometheus.Collector of the
// cgroups it remembers.
func (r *Resolver) Describe(ch chan<- *prometheus.Desc) { ch <- knownDesc }

// Collect reports the cgroups remembered.
func (r *Resolver) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(knownDesc, prometheus.GaugeValue, float64(r.Len()))
}
