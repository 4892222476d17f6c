package containers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
)

const (
	podUID = "6b1f0c2e-3c55-4a1c-9d5e-1f2a3b4c5d6e"
	idA    = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	idB    = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
)

func containerPath(id string) string {
	return "/kubepods/besteffort/pod" + podUID + "/" + id
}

// apiServer is a directory that, like the API server, knows pods and the
// containers of their statuses, but no sandboxes.
type apiServer struct {
	pods     map[string][2]string // uid → namespace, name
	statuses map[string]Labels    // container id → labels
}

func (a *apiServer) Container(id string) (Labels, bool) { l, ok := a.statuses[id]; return l, ok }
func (a *apiServer) Restarts(id string) (int, bool) {
	_, ok := a.statuses[id]
	return 2, ok
}
func (a *apiServer) Pod(uid string) (string, string, bool) {
	p, ok := a.pods[uid]
	return p[0], p[1], ok
}
func (a *apiServer) Containers() []Labels {
	var out []Labels
	for _, l := range a.statuses {
		out = append(out, l)
	}
	return out
}

// tree makes the cgroups paths as directories, in order, and a resolver of
// them; it returns their ids (inode numbers).
func tree(t *testing.T, paths ...string) (*Resolver, []uint64) {
	t.Helper()
	root := t.TempDir()
	h := cgroups.OpenTree(root)
	ids := make([]uint64, len(paths))
	for i, p := range paths {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
		id, err := h.ID(p)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	r := NewResolver(h, "/", time.Minute)
	if _, err := r.Update(time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	return r, ids
}

func TestPlainCgroupsAreNamedByPath(t *testing.T) {
	r, ids := tree(t, "/system.slice/billing.service")
	if l, ok := r.Labels(ids[0]); !ok || l != (Labels{Container: "/system.slice/billing.service"}) {
		t.Errorf("labels %+v %v, want the path", l, ok)
	}
	// Without a directory, Kubernetes paths too.
	r, ids = tree(t, containerPath(idA))
	if l, ok := r.Labels(ids[0]); !ok || l.Container != containerPath(idA) {
		t.Errorf("labels %+v %v, want the path", l, ok)
	}
}

// A run missing from its pod's status (it crashed before the kubelet
// reported it) has no name until it is reported; it is never taken for the
// sandbox, which is the pod's oldest container cgroup.
func TestUnreportedRunWaitsForItsName(t *testing.T) {
	r, ids := tree(t, containerPath(idA), containerPath(idB))
	pathOf := map[uint64]string{ids[0]: containerPath(idA), ids[1]: containerPath(idB)}
	sandbox, run := ids[0], ids[1]
	if run < sandbox { // the ids of this file system need not grow; cgroup ids do
		sandbox, run = run, sandbox
	}
	api := &apiServer{pods: map[string][2]string{podUID: {"shop", "web-0"}}, statuses: map[string]Labels{}}
	r.SetDirectory(api)
	if l, ok := r.Labels(sandbox); !ok || l != (Labels{"shop", "web-0", SandboxContainer}) {
		t.Errorf("oldest container cgroup: %+v %v, want the sandbox", l, ok)
	}
	if l, ok := r.Labels(run); ok {
		t.Errorf("unreported run named %+v before the kubelet reported it", l)
	}
	for l := range r.LabelSet() {
		if l.Pod == "web-0" && l.Container != SandboxContainer {
			t.Errorf("label set has %+v: want the sandbox only of the pod", l)
		}
	}
	runID := pathOf[run][strings.LastIndex(pathOf[run], "/")+1:]
	api.statuses[runID] = Labels{"shop", "web-0", "app"}
	if l, ok := r.Labels(run); !ok || l != (Labels{"shop", "web-0", "app"}) {
		t.Errorf("reported run: %+v %v, want app", l, ok)
	}
	// The pod is deleted: the names stay with the cgroups remembered.
	api.pods, api.statuses = map[string][2]string{}, map[string]Labels{}
	if l, ok := r.Labels(run); !ok || l.Container != "app" {
		t.Errorf("after the pod's deletion: %+v %v, want app still", l, ok)
	}
}

// A ring frozen before its run was named is named when the directory can.
func TestNameOf(t *testing.T) {
	r, _ := tree(t)
	api := &apiServer{pods: map[string][2]string{podUID: {"shop", "web-0"}}, statuses: map[string]Labels{}}
	r.SetDirectory(api)
	if l, _, ok := r.NameOf(containerPath(idB)); ok {
		t.Errorf("unreported run named %+v", l)
	}
	api.statuses[idB] = Labels{"shop", "web-0", "app"}
	l, restarts, ok := r.NameOf(containerPath(idB))
	if !ok || l.Container != "app" || restarts == nil || *restarts != 2 {
		t.Errorf("reported run: %+v %v %v", l, restarts, ok)
	}
	if l, _, ok := r.NameOf("/system.slice/billing.service"); !ok || l.Container != "/system.slice/billing.service" {
		t.Errorf("plain cgroup: %+v %v, want its path", l, ok)
	}
}
