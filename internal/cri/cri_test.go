package cri

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/cri/critest"
)

func TestNamesFromTheRuntime(t *testing.T) {
	r := critest.Serve(t)
	r.AddPod("sandbox1", "shop", "web-0", "uid-1")
	r.AddContainer("app1", "sandbox1", "shop", "web-0", "uid-1", "app", 0)
	if got := Find([]string{filepath.Join(t.TempDir(), "none.sock"), r.Socket}); got != r.Socket {
		t.Errorf("Find = %q, want %q", got, r.Socket)
	}
	c, err := Dial(context.Background(), r.Socket)
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

	// A container created right after the last listing (a run that
	// crashes at once) is named at its first lookup: the runtime is asked
	// again, once MinInterval has passed since that listing.
	r.AddContainer("app2", "sandbox1", "shop", "web-0", "uid-1", "app", 1)
	if got, ok := c.Container("app2"); !ok || got.Container != "app" {
		t.Errorf("a new run: %+v %v, want container app", got, ok)
	}
	if n, ok := c.Restarts("app2"); !ok || n != 1 {
		t.Errorf("Restarts(app2) = %d %v, want the attempt, 1", n, ok)
	}
	// Gone from the runtime, still named: its ring may be frozen.
	r.Forget("app1")
	if err := c.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, ok := c.Container("app1"); !ok || got.Container != "app" {
		t.Errorf("a removed container forgotten: %+v %v", got, ok)
	}
	if got := c.Containers(); len(got) != 1 {
		t.Errorf("Containers() = %v, want the one listed", got)
	}

	// An id the runtime does not have costs one listing, not one a lookup.
	before := r.Lists()
	for i := 0; i < 5; i++ {
		if _, ok := c.Container("nope"); ok {
			t.Fatal("an unknown id named")
		}
	}
	if n := r.Lists() - before; n != 1 {
		t.Errorf("%d listings for an unknown id asked for 5 times, want 1", n)
	}
}

// The runtime names first, the API server next.
func TestChain(t *testing.T) {
	r := critest.Serve(t)
	r.AddPod("s", "shop", "web-0", "uid-1")
	r.AddContainer("fast-crash", "s", "shop", "web-0", "uid-1", "app", 0)
	c, err := Dial(context.Background(), r.Socket)
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
