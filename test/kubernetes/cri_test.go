package kubernetes_test

import (
	"strings"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/cri/critest"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// A run that crashes before kubelet has reported its status to the API
// server: the API knows the pod but not this container id. The runtime
// (CRI) names it from its creation on, so it is "app", not the sandbox,
// in the metrics and the pod's dump. Without the runtime it was "POD".
func TestFastCrashNamedByTheRuntime(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	uid, sandbox, crash := testenv.RandomUID(), testenv.RandomHex(32), testenv.RandomHex(32)
	api.AddPod(kubetest.Pod("shop", "web-0", uid, "node-a", "10.0.0.9", map[string]string{})) // no container status yet
	rt := critest.Serve(t)
	rt.AddPod(sandbox, "shop", "web-0", uid)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t), "--dump.authz=none",
		"--kubernetes.node-name=node-a", "--kubernetes.cri-endpoint="+rt.Socket)
	if !strings.Contains(e.Log(), "naming containers from the container runtime") {
		t.Errorf("the runtime is not used:\n%s", e.Log())
	}

	rt.AddContainer(crash, sandbox, "shop", "web-0", uid, "app", 0)
	c := cg.Make(t, testenv.KubeletPath("besteffort", uid, crash))
	if _, code := cg.Run(t, c, nil, "/bin/sh", "-c", "cat /nonexistent/app.conf; exit 3"); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	m := e.Scrape(t)
	app := map[string]string{"namespace": "shop", "pod": "web-0", "container": "app", "syscall": "openat", "errno": "ENOENT"}
	if v, ok := m.Value(t, "flightrec_syscall_errors_total", app); !ok || v < 1 {
		t.Errorf("no openat ENOENT series for container app (%v)", v)
	}
	sandboxSeries := map[string]string{"namespace": "shop", "pod": "web-0", "container": "POD", "syscall": "openat", "errno": "ENOENT"}
	if v, ok := m.Value(t, "flightrec_syscall_errors_total", sandboxSeries); ok {
		t.Errorf("the crash is counted as the sandbox's (%v)", v)
	}
	code, d := podDump(t, e, "namespace=shop&pod=web-0&container=app")
	if code != 200 || len(d.Rings) != 1 || d.Rings[0].Container != "app" {
		t.Fatalf("dump of container app: %d %+v", code, d.Rings)
	}
	found := false
	for _, en := range d.Entries {
		found = found || (en.Syscall == "openat" && strings.Contains(en.Params, "/nonexistent/app.conf"))
	}
	if !found {
		t.Errorf("the crash's openat is not in container app's dump")
	}
}
