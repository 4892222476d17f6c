// Package critest is a fake CRI runtime for tests: sandboxes and containers
// as kubelet creates them, with its labels, served over a unix socket.
package critest

import (
	"context"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Runtime is a fake CRI runtime service.
type Runtime struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	// Socket is where it listens.
	Socket string

	mu         sync.Mutex
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
	lists      int
}

// Serve starts a fake runtime on a socket in a temporary directory, until
// the test ends.
func Serve(t testing.TB) *Runtime {
	t.Helper()
	r := &Runtime{Socket: filepath.Join(t.TempDir(), "cri.sock")}
	l, err := net.Listen("unix", r.Socket)
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(s, r)
	go func() { _ = s.Serve(l) }()
	t.Cleanup(s.Stop)
	return r
}

// ListPodSandbox implements the CRI RuntimeService.
func (r *Runtime) ListPodSandbox(context.Context, *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lists++
	return &runtimeapi.ListPodSandboxResponse{Items: r.sandboxes}, nil
}

// ListContainers implements the CRI RuntimeService.
func (r *Runtime) ListContainers(context.Context, *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return &runtimeapi.ListContainersResponse{Containers: r.containers}, nil
}

// Lists counts the listings asked for.
func (r *Runtime) Lists() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lists
}

func labels(ns, pod, uid string) map[string]string {
	return map[string]string{"io.kubernetes.pod.namespace": ns, "io.kubernetes.pod.name": pod, "io.kubernetes.pod.uid": uid}
}

// AddPod adds a pod's sandbox.
func (r *Runtime) AddPod(id, ns, name, uid string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sandboxes = append(r.sandboxes, &runtimeapi.PodSandbox{Id: id,
		Metadata: &runtimeapi.PodSandboxMetadata{Name: name, Namespace: ns, Uid: uid}, Labels: labels(ns, name, uid)})
}

// AddContainer adds a container of the pod whose sandbox is sandbox.
func (r *Runtime) AddContainer(id, sandbox, ns, pod, uid, name string, attempt uint32) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := labels(ns, pod, uid)
	l["io.kubernetes.container.name"] = name
	r.containers = append(r.containers, &runtimeapi.Container{Id: id, PodSandboxId: sandbox,
		Metadata: &runtimeapi.ContainerMetadata{Name: name, Attempt: attempt}, Labels: l})
}

// Forget forgets a container, as the runtime does once kubelet
// removes it.
func (r *Runtime) Forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range r.containers {
		if c.Id == id {
			r.containers = append(r.containers[:i], r.containers[i+1:]...)
			return
		}
	}
}
