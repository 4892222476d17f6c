// Package kubernetes_test runs the real exporter against kubelet-shaped
// cgroups and a Kubernetes API served by the test: pod labels, pod dumps,
// restarts and previous runs, deletions, an API that comes up late, and
// dumps forwarded between two exporters standing for two nodes. Needs root.
//
// Dumps are open here (--dump.authz=none); who may read them under
// Kubernetes RBAC is tested in test/access.
package kubernetes_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

var nobody = &syscall.Credential{Uid: 65534, Gid: 65534}

func podDump(t *testing.T, e *testenv.Exporter, query string) (int, dump.PodDump) {
	t.Helper()
	code, body := e.Get(t, "/dump?format=json&"+query)
	var d dump.PodDump
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("decoding %s: %v\n%s", query, err, body)
		}
	}
	return code, d
}

func countEACCES(entries []dump.Entry, path string) int {
	n := 0
	for _, e := range entries {
		if e.Syscall == "openat" && e.Errno == "EACCES" && strings.Contains(e.Params, path) {
			n++
		}
	}
	return n
}

func secretFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPodLabelsRestartsAndDeletion(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	uid, run1, run2 := testenv.RandomUID(), testenv.RandomHex(32), testenv.RandomHex(32)
	pod := kubetest.Pod("shop", "cart", uid, "node-a", "10.0.0.9", map[string]string{"app": run1})
	api.AddPod(pod)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t), "--dump.authz=none",
		"--kubernetes.node-name=node-a", "--collector.grace-period=5s", "--recorder.reclaim-interval=200ms")
	secret := secretFile(t)

	// Run 1: fails with EACCES, exits 1.
	c1 := cg.Make(t, testenv.KubeletPath("besteffort", uid, run1))
	if _, code := cg.Run(t, c1, nobody, "/bin/sh", "-c", "cat "+secret+"; exit 1"); code != 1 {
		t.Fatalf("run 1 exit %d, want 1", code)
	}
	labels := map[string]string{"namespace": "shop", "pod": "cart", "container": "app", "syscall": "openat", "errno": "EACCES"}
	testenv.WaitFor(t, "pod labels on the error series", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", labels)
		return ok && v == 1
	})
	code, d := podDump(t, e, "namespace=shop&pod=cart")
	if code != 200 || d.Node != "node-a" || len(d.Rings) != 1 || d.Rings[0].Container != "app" || countEACCES(d.Entries, secret) != 1 {
		t.Fatalf("pod dump: %d %+v", code, d.Rings)
	}
	if d.Entries[0].Container != "app" {
		t.Errorf("entries lack the container column: %+v", d.Entries[0])
	}
	text := e.MustGet(t, "/dump?pod=cart") // unambiguous without namespace
	if !strings.Contains(text, "# node=node-a namespace=shop pod=cart") || !regexp.MustCompile(`(?m)^\S+ +app +\d+ `).MatchString(text) {
		t.Errorf("text pod dump lacks the node/pod header or the container column:\n%.600s", text)
	}

	// The container restarts: a new cgroup, the old one removed.
	cg.Remove(t, c1)
	restarted := pod.DeepCopy()
	restarted.Status.ContainerStatuses[0].ContainerID = "containerd://" + run2
	restarted.Status.ContainerStatuses[0].RestartCount = 1
	restarted.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 1, ContainerID: "containerd://" + run1}}
	api.UpdatePod(restarted)
	c2 := cg.Make(t, testenv.KubeletPath("besteffort", uid, run2))
	if _, code := cg.Run(t, c2, nil, "/bin/true"); code != 0 {
		t.Fatal("run 2 failed")
	}
	// The cgroups known now, the first run's among them: its grace period
	// (5 s) began when it was removed, a moment ago. (Measured later, on a
	// slow machine the first run could be forgotten already.)
	known := func() float64 {
		v, _ := e.Scrape(t).Value(t, "flightrec_recorder_known_cgroups", nil)
		return v
	}
	before := known()
	testenv.WaitFor(t, "the frozen first run", func() bool {
		code, _ := podDump(t, e, "namespace=shop&pod=cart&container=app&previous=true")
		return code == 200
	})
	_, prev := podDump(t, e, "namespace=shop&pod=cart&container=app&previous=true")
	if len(prev.Rings) != 1 || prev.Rings[0].Ended != "exited with 1" || countEACCES(prev.Entries, secret) != 1 {
		t.Fatalf("previous=true: %+v", prev.Rings)
	}
	last := prev.Entries[len(prev.Entries)-2:]
	if last[0].Syscall != "exit_group" || last[0].Params != "1" || last[1].Kind != dump.KindExit {
		t.Errorf("previous run does not end in exit_group(1): %+v", last)
	}
	// The live dump shows the current run, and the run before it, which
	// ended a moment ago: that is where a crash loop's evidence is.
	var cur dump.PodDump
	testenv.WaitFor(t, "the informer to name the second run", func() bool {
		_, cur = podDump(t, e, "namespace=shop&pod=cart&container=app")
		return len(cur.Rings) > 0 && cur.Rings[0].FrozenAt == nil
	})
	if len(cur.Rings) != 2 || cur.Rings[0].FrozenAt != nil || cur.Rings[1].Ended != "exited with 1" || countEACCES(cur.Entries, secret) != 1 {
		t.Errorf("current run: %+v", cur.Rings)
	} else if r0, r1 := cur.Rings[0].Restarts, cur.Rings[1].Restarts; r0 == nil || *r0 != 1 || r1 == nil || *r1 != 0 {
		t.Errorf("restart counts: current %v, previous %v; want 1 and 0", r0, r1)
	}
	foundTrue := false
	for _, en := range cur.Entries {
		foundTrue = foundTrue || strings.HasPrefix(en.Params, `"/bin/true"`)
	}
	if !foundTrue {
		t.Error("current run lacks its execve of /bin/true")
	}
	// Once the first run's kernel counters expire, the container's counter
	// must not drop: the run ended, the container lives on.
	testenv.WaitFor(t, "the first run's counters to expire", func() bool {
		if v, _ := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", labels); v != 1 {
			t.Fatalf("EACCES counter of the restarted container is %v, want it to stay 1", v)
		}
		return known() < before
	})
	if v, _ := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", labels); v != 1 {
		t.Fatalf("after the first run expired, EACCES counter is %v, want 1", v)
	}

	// The pod is deleted: series go after the grace period, frozen rings stay.
	cg.Remove(t, c2)
	api.DeletePod("shop", "cart")
	testenv.WaitFor(t, "the pod's series to vanish", func() bool {
		return len(e.Scrape(t).Find("flightrec_syscall_errors_total", map[string]string{"pod": "cart"})) == 0
	})
	testenv.WaitFor(t, "both runs frozen", func() bool {
		code, _ := podDump(t, e, "namespace=shop&pod=cart&container=app&previous=2")
		return code == 200
	})
	_, first := podDump(t, e, "namespace=shop&pod=cart&container=app&previous=2")
	if countEACCES(first.Entries, secret) != 1 {
		t.Errorf("previous=2 is not the first run: %+v", first.Rings)
	}
	// Nothing runs now: the plain pod dump (an alert's link) shows the last run.
	code, d = podDump(t, e, "namespace=shop&pod=cart")
	if code != 200 || d.Previous != 1 || d.Note == "" || len(d.Rings) != 1 || d.Rings[0].Ended != "exited with 0" {
		t.Errorf("dump of a pod with nothing running: %d %+v", code, d)
	}
}

func TestAmbiguousPodName(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t), "--dump.authz=none", "--kubernetes.node-name=node-a")
	for _, ns := range []string{"blue", "green"} {
		uid, id := testenv.RandomUID(), testenv.RandomHex(32)
		api.AddPod(kubetest.Pod(ns, "web", uid, "node-a", "10.0.0.1", map[string]string{"nginx": id}))
		c := cg.Make(t, testenv.KubeletPath("burstable", uid, id))
		testenv.WaitFor(t, "the pod in the informer", func() bool {
			if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
				t.Fatal("true failed")
			}
			code, _ := e.Get(t, "/dump?namespace="+ns+"&pod=web")
			return code == 200
		})
	}
	code, body := e.Get(t, "/dump?pod=web")
	if code != 400 || !strings.Contains(body, "blue, green") || !strings.Contains(body, "namespace=") {
		t.Errorf("ambiguous pod: %d %q", code, body)
	}
}

func TestAPIServerDownAtStartThenUp(t *testing.T) {
	cg := testenv.NewCgroups(t)
	addr := kubetest.FreeAddr(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+kubetest.KubeconfigFor(t, addr), "--dump.authz=none",
		"--kubernetes.node-name=node-a")
	uid, id := testenv.RandomUID(), testenv.RandomHex(32)
	c := cg.Make(t, testenv.KubeletPath("guaranteed", uid, id))
	secret := secretFile(t)
	if _, code := cg.Run(t, c, nobody, "/bin/cat", secret); code != 1 {
		t.Fatal("cat should fail")
	}
	// Recording goes on without the API; the container's series wait,
	// counted, for a name: none is exported under a stand-in label that
	// would change later.
	if n := len(e.Scrape(t).Find("flightrec_syscall_errors_total", map[string]string{"errno": "EACCES"})); n != 0 {
		t.Fatalf("without the API, %d EACCES series are exported for a container nobody has named", n)
	}
	if d := e.MustGet(t, "/dump?cgroup="+url.QueryEscape(c)); !strings.Contains(d, "EACCES") {
		t.Fatalf("without the API, the ring lacks the failed open:\n%s", d)
	}
	api := kubetest.NewServerAt(t, addr)
	api.AddPod(kubetest.Pod("late", "starter", uid, "node-a", "10.0.0.2", map[string]string{"main": id}))
	testenv.WaitFor(t, "pod labels once the API answers", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total",
			map[string]string{"namespace": "late", "pod": "starter", "container": "main", "errno": "EACCES"})
		return ok && v == 1
	})
	if n := strings.Count(e.Log(), "unreachable"); n != 1 {
		t.Errorf("the outage was logged %d times, want once:\n%s", n, e.Log())
	}
}

func TestDumpsAreForwardedToThePodsNode(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	kubeconfig := api.Kubeconfig(t)
	nodeA, nodeB := cg.Make(t, "/node-a"), cg.Make(t, "/node-b")
	addrA, addrB := testenv.FreePort(t), testenv.FreePort(t)
	api.AddPod(kubetest.ExporterPod("node-a", addrA))
	api.AddPod(kubetest.ExporterPod("node-b", addrB))
	common := []string{"--kubeconfig=" + kubeconfig, "--dump.peer-namespace=monitoring", "--dump.authz=none"}
	a := testenv.StartExporter(t, append(common, "--recorder.cgroup-parent="+nodeA, "--kubernetes.node-name=node-a", "--web.listen-address="+addrA)...)
	b := testenv.StartExporter(t, append(common, "--recorder.cgroup-parent="+nodeB, "--kubernetes.node-name=node-b", "--web.listen-address="+addrB)...)

	uid, id := testenv.RandomUID(), testenv.RandomHex(32)
	api.AddPod(kubetest.Pod("shop", "cart", uid, "node-b", "10.0.1.5", map[string]string{"app": id}))
	c := cg.Make(t, "/node-b"+testenv.KubeletPath("besteffort", uid, id))
	if _, code := cg.Run(t, c, nil, "/bin/echo", "hello from node b"); code != 0 {
		t.Fatal("echo failed")
	}
	testenv.WaitFor(t, "node b to label the pod", func() bool {
		code, _ := b.Get(t, "/dump?namespace=shop&pod=cart")
		return code == 200
	})
	// Asked on node a, answered by node b.
	code, d := podDump(t, a, "namespace=shop&pod=cart")
	if code != 200 || d.Node != "node-b" {
		t.Fatalf("dump through node a: %d node %q", code, d.Node)
	}
	found := false
	for _, en := range d.Entries {
		found = found || strings.Contains(en.Params, "hello from node b")
	}
	if !found {
		t.Error("forwarded dump lacks the workload's syscalls")
	}
	// A pod the API places on node a that node a has no ring for: b forwards
	// to a once, a answers itself — no loop.
	api.AddPod(kubetest.Pod("shop", "ghost", testenv.RandomUID(), "node-a", "10.0.0.7", map[string]string{"app": testenv.RandomHex(32)}))
	code, body := b.Get(t, "/dump?namespace=shop&pod=ghost")
	if code != 404 || !strings.Contains(body, "node node-a") {
		t.Errorf("ghost pod: %d %q, want node a's 404", code, body)
	}
	if code, body := a.Get(t, "/dump?namespace=shop&pod=nosuchpod"); code != 404 {
		t.Errorf("unknown pod: %d %q", code, body)
	}
	_ = url.QueryEscape
}

func TestPodDumpInterleavesContainersInTimeOrder(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t), "--dump.authz=none", "--kubernetes.node-name=node-a")
	uid, web, sidecar := testenv.RandomUID(), testenv.RandomHex(32), testenv.RandomHex(32)
	api.AddPod(kubetest.Pod("shop", "cart", uid, "node-a", "10.0.0.3", map[string]string{"web": web, "sidecar": sidecar}))
	cgroups := map[string]string{
		"web":     cg.Make(t, testenv.KubeletPath("besteffort", uid, web)),
		"sidecar": cg.Make(t, testenv.KubeletPath("besteffort", uid, sidecar)),
	}
	// The containers take turns: web, sidecar, web, sidecar.
	turns := []string{"web", "sidecar", "web", "sidecar"}
	for i, c := range turns {
		if _, code := cg.Run(t, cgroups[c], nil, "/bin/echo", "turn-"+strconv.Itoa(i)); code != 0 {
			t.Fatal("echo failed")
		}
	}
	var d dump.PodDump
	testenv.WaitFor(t, "the pod dump with both containers", func() bool {
		var code int
		code, d = podDump(t, e, "namespace=shop&pod=cart")
		return code == 200 && len(d.Rings) == 2
	})
	var order []string
	for i, en := range d.Entries {
		if i > 0 && en.MonotonicNs < d.Entries[i-1].MonotonicNs {
			t.Fatalf("entry %d (%s, %s) starts before entry %d", i, en.Container, en.Syscall, i-1)
		}
		if en.Syscall == "execve" && strings.Contains(en.Params, `"turn-`) {
			want := turns[len(order)%len(turns)]
			if !strings.Contains(en.Params, `"turn-`+strconv.Itoa(len(order))+`"`) || en.Container != want {
				t.Errorf("execve %d: %s in %q, want turn-%d in %s", len(order), en.Params, en.Container, len(order), want)
			}
			order = append(order, en.Container)
		}
	}
	if len(order) != len(turns) {
		t.Errorf("pod dump shows the turns %v, want %v", order, turns)
	}
}
