package kubernetes_test

import (
	"strings"
	"syscall"
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

// The same race without a runtime to ask: the API server is the only
// directory, and the crashed run is in no container status yet. It is not
// the sandbox (the pod's oldest container cgroup is): its series wait,
// counted, and its frozen ring waits, until the kubelet reports the run;
// then both are "app", never "POD" first.
func TestFastCrashWaitsForTheAPIServer(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	uid, sandbox, crash := testenv.RandomUID(), testenv.RandomHex(32), testenv.RandomHex(32)
	api.AddPod(kubetest.Pod("shop", "web-1", uid, "node-a", "10.0.0.9", map[string]string{})) // no container status yet
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t), "--dump.authz=none",
		"--kubernetes.node-name=node-a", "--kubernetes.cri-endpoint=")
	pause := cg.Make(t, testenv.KubeletPath("besteffort", uid, sandbox))
	sleeper := cg.Command(t, pause, "/bin/sleep", "3600")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	c := cg.Make(t, testenv.KubeletPath("besteffort", uid, crash))
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	secret := secretFile(t) // not /etc/shadow: a guest's userland may have none
	if _, code := cg.Run(t, c, nobody, "/bin/sh", "-c", "cat "+secret+"; exit 3"); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
	cg.Remove(t, c) // runc removes a run's cgroup when it exits

	denied := map[string]string{"namespace": "shop", "pod": "web-1", "syscall": "openat", "errno": "EACCES"}
	testenv.WaitFor(t, "the sandbox named POD", func() bool {
		code, _ := podDump(t, e, "namespace=shop&pod=web-1&container=POD")
		return code == 200
	})
	m := e.Scrape(t)
	if n := len(m.Find("flightrec_syscall_errors_total", with(denied, "container", "POD"))); n != 0 {
		t.Errorf("the crashed run is counted as the sandbox's")
	}
	if n := len(m.Find("flightrec_syscall_errors_total", map[string]string{"container": testenv.KubeletPath("besteffort", uid, crash)})); n != 0 {
		t.Errorf("the crashed run is exported under its cgroup path before it has a name")
	}
	if code, _ := podDump(t, e, "namespace=shop&pod=web-1&container=app&previous=true"); code != 404 {
		t.Errorf("previous run of app before the kubelet reported it: %d, want 404", code)
	}

	// The kubelet reports the run (terminated, exit code 3).
	reported := kubetest.Pod("shop", "web-1", uid, "node-a", "10.0.0.9", map[string]string{"app": crash})
	api.UpdatePod(reported)
	var app float64
	testenv.WaitFor(t, "the crashed run named app", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", with(denied, "container", "app"))
		app = v
		return ok
	})
	if app < 1 {
		t.Errorf("container app: %v openat EACCES, want the crash's", app)
	}
	code, d := podDump(t, e, "namespace=shop&pod=web-1&container=app&previous=true")
	if code != 200 || len(d.Rings) != 1 || d.Rings[0].Container != "app" || d.Rings[0].Ended != "exited with 3" {
		t.Fatalf("previous run of app: %d %+v", code, d.Rings)
	}
}

// with is labels plus one more.
func with(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for lk, lv := range labels {
		out[lk] = lv
	}
	return out
}
