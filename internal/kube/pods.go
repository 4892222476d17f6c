package kube

import (
	"cmp"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// PodRef identifies a pod.
type PodRef struct {
	Namespace, Name, UID, Node, IP string
	// Phase is the pod phase (Pending, Running, Succeeded, Failed, Unknown).
	Phase string
	// Containers are the regular, init and ephemeral containers of the pod,
	// one entry per runtime id known from the status: the current run, and
	// with Previous set the run before it. A container that has not run
	// yet appears once, with an empty ContainerID.
	Containers []ContainerRef
}

// ContainerRef identifies one run of a container of a pod.
type ContainerRef struct {
	Namespace, Pod, PodUID, Container string
	// ContainerID is the runtime id, hex only (no "containerd://" prefix).
	ContainerID string
	// RestartCount is the number of restarts of the container before this
	// run (status.containerStatuses[].restartCount, less one for Previous).
	RestartCount int32
	// Init is set for init containers (including sidecars).
	Init bool
	// Previous is set when this id is from an earlier run
	// (lastState.terminated, or a run before that seen by this process).
	Previous bool
}

// Names of the informer's indexes.
const (
	indexContainerID = "containerID"
	indexPodUID      = "podUID"
)

// maxRetiredPerPod bounds the ids of older runs remembered per pod.
const maxRetiredPerPod = 32

// NormalizeContainerID returns the runtime id of a container id as found in
// a pod status ("containerd://<hex>", "cri-o://<hex>", "docker://<hex>")
// or in a cgroup path: the part after the scheme, lower-cased.
func NormalizeContainerID(id string) string {
	if _, after, ok := strings.Cut(id, "://"); ok {
		id = after
	}
	return strings.ToLower(strings.TrimSpace(id))
}

// NormalizePodUID returns a pod UID in its canonical dashed, lower-case
// form; it accepts the underscored form of systemd cgroup names.
func NormalizePodUID(uid string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(uid), "_", "-"))
}

// Container finds a container by its runtime id (64 lowercase hex, without
// "containerd://", "cri-o://", "docker://" prefix; a prefix is tolerated).
// It also knows the ids of previous runs
// (status.containerStatuses[].lastState.terminated.containerID, and older
// runs seen while the pod existed), so the cgroup of a crashed run that was
// restarted still resolves to the same container name, with that run's
// restart count and Previous set.
func (c *Client) Container(id string) (ContainerRef, bool) {
	id = NormalizeContainerID(id)
	if id == "" {
		return ContainerRef{}, false
	}
	objs, err := c.informer.GetIndexer().ByIndex(indexContainerID, id)
	if err == nil {
		for _, obj := range objs {
			pod, ok := obj.(*corev1.Pod)
			if !ok {
				continue
			}
			for _, ref := range containerRefs(pod) {
				if ref.ContainerID == id {
					return ref, true
				}
			}
		}
	}
	return c.retired.lookup(id)
}

// Pod finds a pod of this node by UID (canonical dashed form; the
// underscored form of systemd cgroup names is accepted too).
func (c *Client) Pod(uid string) (PodRef, bool) {
	objs, err := c.informer.GetIndexer().ByIndex(indexPodUID, NormalizePodUID(uid))
	if err != nil {
		return PodRef{}, false
	}
	for _, obj := range objs {
		if pod, ok := obj.(*corev1.Pod); ok {
			return podRef(pod), true
		}
	}
	return PodRef{}, false
}

func sortPodRefs(refs []PodRef) {
	slices.SortFunc(refs, func(a, b PodRef) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
	})
}

// podRef describes pod.
func podRef(pod *corev1.Pod) PodRef {
	return PodRef{
		Namespace:  pod.Namespace,
		Name:       pod.Name,
		UID:        string(pod.UID),
		Node:       pod.Spec.NodeName,
		IP:         pod.Status.PodIP,
		Phase:      string(pod.Status.Phase),
		Containers: containerRefs(pod),
	}
}

// containerRefs lists the runs of the containers of pod known from its
// status: regular containers, then init, then ephemeral ones, each in spec
// order followed by statuses of containers missing from the spec.
func containerRefs(pod *corev1.Pod) []ContainerRef {
	var refs []ContainerRef
	add := func(names []string, statuses []corev1.ContainerStatus, init bool) {
		byName := make(map[string]*corev1.ContainerStatus, len(statuses))
		for i := range statuses {
			byName[statuses[i].Name] = &statuses[i]
		}
		emit := func(name string, st *corev1.ContainerStatus) {
			ref := ContainerRef{
				Namespace: pod.Namespace,
				Pod:       pod.Name,
				PodUID:    string(pod.UID),
				Container: name,
				Init:      init,
			}
			if st == nil {
				refs = append(refs, ref)
				return
			}
			ref.ContainerID = NormalizeContainerID(st.ContainerID)
			ref.RestartCount = st.RestartCount
			refs = append(refs, ref)
			if t := st.LastTerminationState.Terminated; t != nil {
				if prev := NormalizeContainerID(t.ContainerID); prev != "" && prev != ref.ContainerID {
					// The current run is restart number RestartCount, so the one
					// before it was started after RestartCount-1 restarts.
					ref.ContainerID = prev
					ref.RestartCount = max(st.RestartCount-1, 0)
					ref.Previous = true
					refs = append(refs, ref)
				}
			}
		}
		seen := make(map[string]bool, len(names))
		for _, name := range names {
			seen[name] = true
			emit(name, byName[name])
		}
		for i := range statuses {
			if !seen[statuses[i].Name] {
				emit(statuses[i].Name, &statuses[i])
			}
		}
	}
	spec := &pod.Spec
	add(containerNames(spec.Containers), pod.Status.ContainerStatuses, false)
	add(containerNames(spec.InitContainers), pod.Status.InitContainerStatuses, true)
	ephemeral := make([]string, len(spec.EphemeralContainers))
	for i := range spec.EphemeralContainers {
		ephemeral[i] = spec.EphemeralContainers[i].Name
	}
	add(ephemeral, pod.Status.EphemeralContainerStatuses, false)
	return refs
}

func containerNames(cs []corev1.Container) []string {
	names := make([]string, len(cs))
	for i := range cs {
		names[i] = cs[i].Name
	}
	return names
}

// containerIDs returns the runtime ids known from the status of pod.
func containerIDs(pod *corev1.Pod) []string {
	var ids []string
	for _, ref := range containerRefs(pod) {
		if ref.ContainerID != "" && !slices.Contains(ids, ref.ContainerID) {
			ids = append(ids, ref.ContainerID)
		}
	}
	return ids
}

func indexByContainerID(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	return containerIDs(pod), nil
}

func indexByPodUID(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok || pod.UID == "" {
		return nil, nil
	}
	return []string{NormalizePodUID(string(pod.UID))}, nil
}

// slimPod keeps only what the lookups use of a pod, so that the informer's
// cache stays small on a node with large pod specs.
func slimPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	slim := &corev1.Pod{
		TypeMeta: pod.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:              pod.Name,
			Namespace:         pod.Namespace,
			UID:               pod.UID,
			ResourceVersion:   pod.ResourceVersion,
			CreationTimestamp: pod.CreationTimestamp,
			DeletionTimestamp: pod.DeletionTimestamp,
		},
		Spec: corev1.PodSpec{NodeName: pod.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase:                      pod.Status.Phase,
			PodIP:                      pod.Status.PodIP,
			ContainerStatuses:          slimStatuses(pod.Status.ContainerStatuses),
			InitContainerStatuses:      slimStatuses(pod.Status.InitContainerStatuses),
			EphemeralContainerStatuses: slimStatuses(pod.Status.EphemeralContainerStatuses),
		},
	}
	for _, c := range pod.Spec.Containers {
		slim.Spec.Containers = append(slim.Spec.Containers, corev1.Container{Name: c.Name})
	}
	for _, c := range pod.Spec.InitContainers {
		slim.Spec.InitContainers = append(slim.Spec.InitContainers, corev1.Container{Name: c.Name})
	}
	for _, c := range pod.Spec.EphemeralContainers {
		slim.Spec.EphemeralContainers = append(slim.Spec.EphemeralContainers,
			corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: c.Name}})
	}
	return slim, nil
}

func slimStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if in == nil {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, st := range in {
		out[i] = corev1.ContainerStatus{
			Name:         st.Name,
			ContainerID:  st.ContainerID,
			RestartCount: st.RestartCount,
		}
		if t := st.LastTerminationState.Terminated; t != nil {
			out[i].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ContainerID: t.ContainerID}
		}
	}
	return out
}

// retired remembers ids of container runs that are no longer in the status
// of their pod (a container restarted twice or more), until the pod is
// deleted.
type retired struct {
	mu    sync.RWMutex
	byID  map[string]ContainerRef
	byPod map[string][]string // pod UID -> ids, oldest first
}

func newRetired() *retired {
	return &retired{byID: map[string]ContainerRef{}, byPod: map[string][]string{}}
}

func (r *retired) lookup(id string) (ContainerRef, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ref, ok := r.byID[id]
	return ref, ok
}

// update remembers the runs of old that are gone from cur.
func (r *retired) update(old, cur *corev1.Pod) {
	if old.UID != cur.UID {
		// Replaced by a pod of the same name while the watch was down.
		r.forget(string(old.UID))
		return
	}
	still := containerIDs(cur)
	var gone []ContainerRef
	for _, ref := range containerRefs(old) {
		if ref.ContainerID != "" && !slices.Contains(still, ref.ContainerID) {
			ref.Previous = true
			gone = append(gone, ref)
		}
	}
	if len(gone) == 0 {
		return
	}
	uid := string(cur.UID)
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := r.byPod[uid]
	for _, ref := range gone {
		if _, ok := r.byID[ref.ContainerID]; ok {
			continue
		}
		r.byID[ref.ContainerID] = ref
		ids = append(ids, ref.ContainerID)
	}
	if n := len(ids) - maxRetiredPerPod; n > 0 {
		for _, id := range ids[:n] {
			delete(r.byID, id)
		}
		ids = slices.Clone(ids[n:])
	}
	r.byPod[uid] = ids
}

// forget drops the runs remembered for a deleted pod.
func (r *retired) forget(uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range r.byPod[uid] {
		delete(r.byID, id)
	}
	delete(r.byPod, uid)
}

func (r *retired) len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byID)
}

func (c *Client) podUpdated(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	cur, ok2 := newObj.(*corev1.Pod)
	if ok1 && ok2 {
		c.retired.update(old, cur)
	}
}

func (c *Client) podDeleted(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pod, ok := obj.(*corev1.Pod); ok {
		c.retired.forget(string(pod.UID))
	}
}

// Containers lists the containers of every pod of this node (one entry per
// container name, whatever its runs).
func (c *Client) Containers() []ContainerRef {
	var out []ContainerRef
	for _, obj := range c.informer.GetStore().List() {
		pod, ok := obj.(*corev1.Pod)
		if !ok {
			continue
		}
		seen := map[string]bool{}
		for _, ref := range containerRefs(pod) {
			if !seen[ref.Container] {
				seen[ref.Container] = true
				out = append(out, ref)
			}
		}
	}
	return out
}
