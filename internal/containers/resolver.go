// Package containers names the cgroups the recorder sees: it turns a cgroup
// id into the labels of metrics and dumps, and remembers cgroups that went
// away until their series have been scraped one last time.
package containers

import (
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
	entries := make([]*entry, 0, len(r.known))
	for _, e := range r.known {
		if !e.expired && e.path != "" {
			entries = append(entries, e)
		}
	}
	dir := r.dir
	r.mu.Unlock()
	set := make(map[Labels]bool, len(entries))
	for _, e := range entries {
		set[r.labelsOf(e, dir)] = true
	}
	if dir != nil {
		for _, l := range dir.Containers() {
			set[l] = true
		}
	}
	return set
}

// Labels returns the metric labels of cgroup id; false for a cgroup whose
// path was never known. A Kubernetes container the directory does not know
// (yet: the API server may be down) is labelled by its cgroup path.
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
	return r.labelsOf(e, dir), true
}

// labelsOf names an entry, through the directory when it knows the
// container, else as it last did (the pod may be gone while the cgroup's
// last run is frozen or its series are in their grace period), else by path.
func (r *Resolver) labelsOf(e *entry, dir Directory) Labels {
	if l, ok := directoryLabels(e, dir); ok {
		r.mu.Lock()
		e.named = &l
		r.mu.Unlock()
		return l
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.named != nil {
		return *e.named
	}
	return Labels{Container: e.path}
}

func directoryLabels(e *entry, dir Directory) (Labels, bool) {
	if dir != nil && e.id.Kubernetes {
		if e.id.ContainerID != "" {
			if l, ok := dir.Container(e.id.ContainerID); ok {
				return l, true
			}
		}
		if e.id.PodUID != "" && e.id.IsContainer() {
			// A container of a known pod that is in no container status: the sandbox.
			if ns, pod, ok := dir.Pod(e.id.PodUID); ok {
				return Labels{Namespace: ns, Pod: pod, Container: SandboxContainer}, true
			}
		}
	}
	return Labels{}, false
}

// Update walks the hierarchy: it learns new cgroups, marks removed ones, and
// returns the ids whose grace period ended; the caller retires their state,
// then calls Forget. seen are ids the kernel holds state for: one that
// vanished before any walk saw it starts its grace period now, unlabelled.
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
		case now.Sub(e.goneAt) >= r.grace && !e.expired:
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
