package cri

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flightrec/flightrec_exporter/internal/containers"
)

// runtime is a fake CRI runtime: sandboxes and containers as kubelet
// creates them, with its labels.
type runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	mu         sync.Mutex
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
	lists      int
}

func (r *runtime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists++
	return &runtimeapi.ListPodSandboxResponse{Items: r.sandboxes}, nil
}

func (r *runtime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &runtimeapi.ListContainersResponse{Containers: r.containers}, nil
}

func (r *runtime) addPod(id, ns, name, uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sandboxes = append(r.sandboxes, &runtimeapi.PodSandbox{Id: id,
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid},
		Labels:   map[string]string{labelNamespace: ns, labelPod: name, labelPodUID: uid}})
}

func (r *runtime) addContainer(id, sandbox, ns, pod, uid, name string, attempt uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.containers = append(r.containers, &runtimeapi.Container{Id: id, PodSandboxId: sandbox,
		Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt},
		Labels:   map[string]string{labelNamespace: ns, labelPod: pod, labelPodUID: uid, labelContainer: name}})
}

func serve(t *testing.T, r *runtime) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(s, r)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return sock
}

func TestNamesFromTheRuntime(t *testing.T) {
	r := &runtime{}
	r.addPod("sandbox1", "shop", "web-0", "uid-1")
	r.addContainer("app1", "sandbox1", "shop", "web-0", "uid-1", "app", 0)
	sock := serve(t, r)
	if got := Find([]string{filepath.Join(t.TempDir(), "none.sock"), sock}); got != sock {
		t.Errorf("Find = %q, want %q", got, sock)
	}
	c, err := Dial(context.Background(), sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	want := map[string]containers.Labels{
		"app1":     {Namespace: "shop", Pod: "web-0", Container: "app"},
		"sandbox1": {Namespace: "shop", Pod: "web-0", Container: containers.SandboxContainer},
	}
	for id, l := range want {
		if got, ok := c.Container(id); !ok || got != l {
			t.Errorf("Container(%s) = %+v %v, want %+v", id, got, ok, l)
		}
	}
	if ns, name, ok := c.Pod("uid-1"); !ok || ns != "shop" || name != "web-0" {
		t.Errorf("Pod(uid-1) = %s/%s %v", ns, name, ok)
	}

	// A container created after the last listing (a run that crashes at
	// once) is named at its first lookup: the runtime is asked again.
	r.addContainer("app2", "sandbox1", "shop", "web-0", "uid-1", "app", 1)
	c.MinInterval = 0
	if got, ok := c.Container("app2"); !ok || got.Container != "app" {
		t.Errorf("a new run: %+v %v, want container app", got, ok)
	}
	if n, ok := c.Restarts("app2"); !ok || n != 1 {
		t.Errorf("Restarts(app2) = %d %v, want the attempt, 1", n, ok)
	}
	// Gone from the runtime, still named: its ring may be frozen.
	r.mu.Lock()
	r.containers = r.containers[1:]
	r.mu.Unlock()
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Container("app1"); !ok || got.Container != "app" {
		t.Errorf("a removed container forgotten: %+v %v", got, ok)
	}
	if got := c.Containers(); len(got) != 1 {
		t.Errorf("Containers() = %v, want the one listed", got)
	}

	// Unknown ids are asked for at most once per MinInterval.
	c.MinInterval = 1 << 62
	before := r.lists
	for i := 0; i < 5; i++ {
		c.Container("nope")
	}
	if r.lists != before {
		t.Errorf("%d listings for unknown ids within MinInterval", r.lists-before)
	}
}

// The runtime names first, the API server next.
func TestChain(t *testing.T) {
	r := &runtime{}
	r.addPod("s", "shop", "web-0", "uid-1")
	r.addContainer("fast-crash", "s", "shop", "web-0", "uid-1", "app", 0)
	c, err := Dial(context.Background(), serve(t, r))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	chain := containers.Chain{c, apiServer{}}
	if got, ok := chain.Container("fast-crash"); !ok || got.Container != "app" {
		t.Errorf("chain: %+v %v, want the runtime's name", got, ok)
	}
	if got, ok := chain.Container("other-node-id"); !ok || got.Pod != "db-0" {
		t.Errorf("chain: %+v %v, want the API server's", got, ok)
	}
}

type apiServer struct{}

func (apiServer) Container(id string) (containers.Labels, bool) {
	return containers.Labels{Namespace: "shop", Pod: "db-0", Container: "pg"}, id == "other-node-id"
}
func (apiServer) Pod(string) (string, string, bool) { return "", "", false }
func (apiServer) Containers() []containers.Labels   { return nil }
func (apiServer) Restarts(string) (int, bool)       { return 0, false }
