package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// A running container is named in the metrics and its pod's dump, and the
// pod's sandbox is container="POD".
func TestNamesWhileRunning(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "web-0", nsContainer)
	id := p.RunContainer(t, "app", "sh", "-c", "cat /nonexistent/app.conf; exec sleep 3600")
	api.AddPod(apiPod(p, map[string]string{"app": id}))

	labels := containerLabels(p, "app", "syscall", "openat", "errno", "ENOENT")
	testenv.WaitFor(t, "the app's openat ENOENT series", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", labels)
		return ok && v >= 1
	})
	d := mustPodDump(t, e, p, "container=app")
	if len(d.Rings) != 1 {
		t.Fatalf("dump of container app: %d rings, want 1: %+v", len(d.Rings), d.Rings)
	}
	r := d.Rings[0]
	if r.Container != "app" || r.ContainerID != id || r.PodUID != p.UID || !r.Live || r.FrozenAt != nil {
		t.Errorf("ring of the running app: %+v", r)
	}
	if !hasOpenat(d.Entries, "/nonexistent/app.conf", "ENOENT") {
		t.Errorf("the app's failed openat is not in its dump")
	}
	for _, en := range d.Entries {
		if en.Container != "app" {
			t.Fatalf("an entry of container app's dump is labelled %q: %+v", en.Container, en)
		}
	}
	sandbox, ok := getIndex(t, e).findRing(p.ID)
	if !ok {
		t.Fatalf("no ring for the pod's sandbox %s", p.ID)
	}
	if sandbox.Namespace != "shop" || sandbox.Pod != "web-0" || sandbox.Container != "POD" {
		t.Errorf("the sandbox is named %s/%s container %q, want shop/web-0 container \"POD\"", sandbox.Namespace, sandbox.Pod, sandbox.Container)
	}
}

// A run that crashes within 200 ms of its start, before kubelet has put
// its container id into the pod's status (the API pod has no status for
// it): the runtime names it "app" from its creation on, in the dump, in
// previous=true and in the metrics, never the sandbox's "POD".
func TestFastCrashNamedApp(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "crash-0", nsContainer)
	api.AddPod(apiPod(p, map[string]string{})) // kubelet has not reported the container yet
	sandboxErrors := func() float64 {
		v, _ := errorSeries(e.Scrape(t), containerLabels(p, "POD"))
		return v
	}
	// The sandbox's own count, once the exporter knows its name: a series
	// is exported only then.
	testenv.WaitFor(t, "the sandbox's ring to be named", func() bool {
		r, ok := getIndex(t, e).findRing(p.ID)
		return ok && r.Container == "POD"
	})
	before := sandboxErrors()

	id := p.RunContainer(t, "app", "sh", "-c", "cat /nonexistent/app.conf; exit 3")
	appLabels := containerLabels(p, "app", "syscall", "openat", "errno", "ENOENT")
	// From the first scrape on: the crash's errors are the app's and only
	// the app's.
	testenv.WaitFor(t, "the crash's openat ENOENT series as container app", func() bool {
		m := e.Scrape(t)
		if v, _ := errorSeries(m, containerLabels(p, "POD")); v != before {
			t.Fatalf("the sandbox's error count went from %v to %v: the crash is counted as container POD", before, v)
		}
		v, ok := m.Value(t, "flightrec_syscall_errors_total", appLabels)
		return ok && v >= 1
	})
	st := p.WaitExited(t, id)
	if st.ExitCode != 3 {
		t.Fatalf("the crash exited with %d, want 3 (log: %s)", st.ExitCode, p.Log(t, id))
	}
	if ran := runFor(t, st); ran >= 200*time.Millisecond {
		t.Fatalf("the crash ran %v: not the race this test is about (it must exit within 200 ms of its start)", ran)
	}
	testenv.WaitFor(t, "the crash's cgroup to be removed", func() bool { return cgroupGone(parent, p.ContainerCgroup(id)) })
	waitFrozen(t, e, id)

	for _, q := range []string{"container=app", "container=app&previous=true"} {
		code, d, body := getPodDump(t, e, p, q)
		if code != 200 {
			t.Errorf("dump %s: %d %s", q, code, body)
			continue
		}
		if len(d.Rings) != 1 || d.Rings[0].Container != "app" || d.Rings[0].ContainerID != id {
			t.Errorf("dump %s: rings %+v, want the crash's, named app", q, d.Rings)
			continue
		}
		if !hasOpenat(d.Entries, "/nonexistent/app.conf", "ENOENT") {
			t.Errorf("dump %s lacks the crash's openat", q)
		}
	}
	if r, _ := getIndex(t, e).findRing(id); r.Container != "app" {
		t.Errorf("the crash's frozen ring in the index: %+v, want container app", r)
	}
	if v := sandboxErrors(); v != before {
		t.Errorf("the sandbox's error count went from %v to %v", before, v)
	}
}

// A container restarted twice, as kubelet restarts one: three runtime
// containers with the same name, attempts 0, 1 and 2. previous=true (1) is
// the run before the current one, previous=2 the one before that.
func TestRestartsAndPreviousN(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "cart-0", nsContainer)
	var ids []string
	for run := range 2 {
		id := p.RunContainer(t, "app", "sh", "-c", fmt.Sprintf("cat /nonexistent/run-%d; exit %d", run, run+1))
		if st := p.WaitExited(t, id); st.ExitCode != run+1 {
			t.Fatalf("run %d exited with %d, want %d", run, st.ExitCode, run+1)
		}
		// Frozen before the next run starts, as kubelet's back-off ensures.
		testenv.WaitFor(t, fmt.Sprintf("run %d's cgroup to be removed", run), func() bool { return cgroupGone(parent, p.ContainerCgroup(id)) })
		waitFrozen(t, e, id)
		ids = append(ids, id)
	}
	current := p.RunContainer(t, "app", "sh", "-c", "cat /nonexistent/run-2; exec sleep 3600")
	ids = append(ids, current)
	restarted := apiPod(p, map[string]string{"app": current})
	restarted.Status.ContainerStatuses[0].RestartCount = 2
	restarted.Status.ContainerStatuses[0].LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
		ExitCode: 2, ContainerID: "containerd://" + ids[1]}}
	api.AddPod(restarted)

	var live podDump
	testenv.WaitFor(t, "the current run's ring", func() bool {
		code, d, _ := getPodDump(t, e, p, "container=app")
		live = d
		return code == 200 && len(d.Rings) > 0 && d.Rings[0].ContainerID == current && hasOpenat(d.Entries, "/nonexistent/run-2", "ENOENT")
	})
	// The live dump of a crash loop shows the run before the current one.
	if len(live.Rings) != 2 || !live.Rings[0].Live || live.Rings[1].ContainerID != ids[1] {
		t.Errorf("live dump: rings %+v, want the current run and run 1", live.Rings)
	}
	for _, c := range []struct {
		query string
		run   int
	}{{"previous=true", 1}, {"previous=1", 1}, {"previous=2", 0}} {
		d := mustPodDump(t, e, p, "container=app&"+c.query)
		want := fmt.Sprintf("exited with %d", c.run+1)
		if len(d.Rings) != 1 || d.Rings[0].ContainerID != ids[c.run] || d.Rings[0].Container != "app" || d.Rings[0].Ended != want {
			t.Errorf("%s: rings %+v, want run %d (%s, %s)", c.query, d.Rings, c.run, ids[c.run][:12], want)
			continue
		}
		if !hasOpenat(d.Entries, fmt.Sprintf("/nonexistent/run-%d", c.run), "ENOENT") {
			t.Errorf("%s lacks run %d's openat", c.query, c.run)
		}
		for other := range 3 {
			if other != c.run && hasOpenat(d.Entries, fmt.Sprintf("/nonexistent/run-%d", other), "") {
				t.Errorf("%s holds run %d's openat too", c.query, other)
			}
		}
	}
	if code, _, body := getPodDump(t, e, p, "container=app&previous=3"); code != 404 {
		t.Errorf("previous=3 of a container that ran 3 times: %d %s, want 404", code, body)
	}
}

// runc's own processes run in the container's cgroup before the
// entrypoint: their records are the runtime's setup (phase "runtime"), the
// application's are phase "app", the text dump marks where the application
// starts, and the container's error counters count the application only.
func TestRuntimeSetupSeparated(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	// runc's setup alone is ~1,400 records, more than a small ring holds:
	// large rings from the start, so that every record can be counted.
	e := startExporter(t, rt, parent, api, "--recorder.small-ring-size=4096")

	p := runPod(t, rt, parent, "shop", "setup-0", nsContainer)
	id := p.RunContainer(t, "app", "sh", "-c", "cat /nonexistent/setup-check; exit 3")
	api.AddPod(apiPod(p, map[string]string{"app": id}))
	if st := p.WaitExited(t, id); st.ExitCode != 3 {
		t.Fatalf("exit %d, want 3", st.ExitCode)
	}
	waitFrozen(t, e, id)
	d := mustPodDump(t, e, p, "container=app&previous=true")
	if len(d.Rings) != 1 || d.Rings[0].ContainerID != id {
		t.Fatalf("previous=true: rings %+v, want the run's", d.Rings)
	}
	r := d.Rings[0]
	if r.Overwritten != 0 {
		t.Fatalf("the ring overwrote %d records: the counts below need all of them", r.Overwritten)
	}

	// Each record's phase, judged by who made it: runc's processes, or the
	// application's (sh, and cat, which busybox's sh runs by an execve of
	// /proc/self/exe: its comm is "exe").
	var runtimeRecords, appFailed, appOpenatENOENT int
	mainPID := -1
	var wrongPhase []string
	for _, en := range d.Entries {
		switch {
		case isRuntimeComm(en.Comm):
			runtimeRecords++
			// The execve that starts the entrypoint is the boundary:
			// either phase is right for it.
			if en.Syscall != "execve" && en.Phase != dump.PhaseRuntime {
				wrongPhase = append(wrongPhase, fmt.Sprintf("%s %s %s: phase %q, want runtime", en.Comm, en.Syscall, en.RetText, en.Phase))
			}
		default:
			if en.Phase != dump.PhaseApp {
				wrongPhase = append(wrongPhase, fmt.Sprintf("%s %s %s: phase %q, want app", en.Comm, en.Syscall, en.RetText, en.Phase))
			}
			if en.Kind == dump.KindSyscall && en.Errno != "" {
				appFailed++
				if en.Syscall == "openat" && en.Errno == "ENOENT" {
					appOpenatENOENT++
				}
			}
			if en.Kind == dump.KindExit && en.Comm == "sh" && en.ExitCode != nil && *en.ExitCode == 3 {
				mainPID = int(en.PID)
			}
		}
	}
	if runtimeRecords == 0 {
		t.Fatalf("no record of runc's setup (comm runc:[...]) in the ring: nothing to separate")
	}
	if n := len(wrongPhase); n > 0 {
		t.Errorf("%d of %d records have the wrong phase; the first: %s", n, len(d.Entries), strings.Join(wrongPhase[:min(n, 5)], "; "))
	}
	if mainPID < 0 {
		t.Errorf("no exit of the entrypoint (sh, exit 3) in the ring")
	} else if int(r.MainPID) != mainPID {
		t.Errorf("ring main_pid = %d, want the entrypoint's pid %d", r.MainPID, mainPID)
	}

	text := e.MustGet(t, "/dump?namespace="+p.Namespace+"&pod="+p.Name+"&container=app&previous=true")
	checkStartMarker(t, text, "/nonexistent/setup-check")

	// The container's error counters: the application's failures, none of
	// runc's.
	var total float64
	var by map[string]float64
	testenv.WaitFor(t, "the app's openat ENOENT series", func() bool {
		total, by = errorSeries(e.Scrape(t), containerLabels(p, "app"))
		return by["openat ENOENT"] >= 1
	})
	for k, v := range by {
		if errno := strings.Fields(k)[1]; errno == "EBADF" || errno == "EFAULT" || errno == "EPERM" {
			t.Errorf("container app's errors include runc's %s ×%v", k, v)
		}
	}
	if by["openat ENOENT"] != float64(appOpenatENOENT) {
		t.Errorf("openat ENOENT counted %v times for container app, the application failed it %d times", by["openat ENOENT"], appOpenatENOENT)
	}
	if total != float64(appFailed) {
		t.Errorf("container app's errors total %v, the application's failed syscalls are %d: %v", total, appFailed, by)
	}
}

// checkStartMarker checks that the text dump has one "--- application
// starts" line, after every record of runc's parent and child and before
// the application's openat of appPath.
func checkStartMarker(t *testing.T, text, appPath string) {
	t.Helper()
	lines := strings.Split(text, "\n")
	marker, markers := -1, 0
	for i, l := range lines {
		if strings.HasPrefix(l, "--- application starts") {
			markers++
			if marker < 0 {
				marker = i
			}
		}
	}
	if markers != 1 {
		t.Errorf("the text dump has %d \"--- application starts\" lines, want 1:\n%s", markers, excerpt(text, 40))
		return
	}
	for i, l := range lines {
		if (strings.Contains(l, "runc:[0:PARENT]") || strings.Contains(l, "runc:[1:CHILD]")) && i > marker {
			t.Errorf("runc's setup after the application starts (line %d): %s", i, l)
		}
		// The entrypoint's execve names appPath too, and may be either
		// side of the marker: only the openat is the application's.
		if strings.Contains(l, "openat") && strings.Contains(l, appPath) && i < marker {
			t.Errorf("the application's openat before the marker (line %d): %s", i, l)
		}
	}
}

// The entrypoint exits with 3 while a child it left in the background is
// still running; the child is killed (SIGKILL) when the pid namespace's
// init ends. The container ended as its entrypoint did: "exited with 3",
// what CRI and kubelet report, not as the last process to leave.
func TestEndingIsTheEntrypointsExit(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "leftover-0", nsContainer)
	id := p.RunContainer(t, "app", "sh", "-c", "sleep 30 & sleep 0.5; exit 3")
	api.AddPod(apiPod(p, map[string]string{"app": id}))
	if st := p.WaitExited(t, id); st.ExitCode != 3 {
		t.Fatalf("CRI says exit %d, want 3", st.ExitCode)
	}
	waitFrozen(t, e, id)
	d := mustPodDump(t, e, p, "container=app&previous=true")
	if len(d.Rings) != 1 || d.Rings[0].ContainerID != id {
		t.Fatalf("previous=true: rings %+v", d.Rings)
	}
	if got := d.Rings[0].Ended; got != "exited with 3" {
		t.Errorf("ended = %q, want \"exited with 3\" (the entrypoint's exit, as CRI reports it)", got)
	}
	// Every process's exit is still in the dump: the leftover sleep's too.
	killed := false
	for _, en := range d.Entries {
		killed = killed || (en.Kind == dump.KindExit && en.Comm == "sleep" && en.Signal == "SIGKILL")
	}
	if !killed {
		t.Errorf("the dump lacks the leftover sleep's SIGKILL exit")
	}
}

// `crictl stop` sends the container's main process SIGTERM; it dies of it,
// and the runtime then kills what is left of the container (here a child
// of the main process) with SIGKILL. The container ended "killed by
// SIGTERM".
//
// The pod shares one pid namespace (shareProcessNamespace, the sandbox is
// its init): a container's own pid namespace would make its main process
// that namespace's init, which the kernel shields from a SIGTERM it has no
// handler for, and the stop would end, correctly, in SIGKILL after the
// timeout.
func TestCrictlStopEndsWithSIGTERM(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "stop-0", nsPod)
	id := p.RunContainer(t, "app", "sh", "-c", "sleep 3600 & wait")
	api.AddPod(apiPod(p, map[string]string{"app": id}))
	testenv.WaitFor(t, "the container's ring", func() bool {
		r, ok := getIndex(t, e).findRing(id)
		return ok && r.Live
	})
	start := time.Now()
	rt.MustCrictl(t, "stop", "--timeout", "10", id)
	stopped := time.Since(start)
	st := p.WaitExited(t, id)
	if stopped >= 10*time.Second || st.ExitCode != 128+15 {
		t.Fatalf("crictl stop took %v and the exit code is %d: SIGTERM did not end the container (want 143 at once)", stopped, st.ExitCode)
	}
	waitFrozen(t, e, id)
	d := mustPodDump(t, e, p, "container=app&previous=true")
	if len(d.Rings) != 1 || d.Rings[0].ContainerID != id {
		t.Fatalf("previous=true: rings %+v", d.Rings)
	}
	if got := d.Rings[0].Ended; got != "killed by SIGTERM" {
		t.Errorf("ended = %q, want \"killed by SIGTERM\" (how crictl stop ended the main process)", got)
	}
}

// Pods that were running before the exporter started are named right once
// it records them.
func TestExporterStartedAfterThePods(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)

	p := runPod(t, rt, parent, "shop", "early-0", nsContainer)
	// A steady failure, so that the container makes syscalls after the
	// exporter has started.
	id := p.RunContainer(t, "app", "sh", "-c", "while :; do cat /nonexistent/tick 2>/dev/null; sleep 0.1; done")
	api.AddPod(apiPod(p, map[string]string{"app": id}))
	testenv.WaitFor(t, "the container to run", func() bool { return p.Status(t, id).State == "CONTAINER_RUNNING" })

	e := startExporter(t, rt, parent, api)
	testenv.WaitFor(t, "the app's openat ENOENT series", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", containerLabels(p, "app", "syscall", "openat", "errno", "ENOENT"))
		return ok && v >= 1
	})
	d := mustPodDump(t, e, p, "container=app")
	if len(d.Rings) != 1 || d.Rings[0].ContainerID != id || d.Rings[0].Container != "app" || !d.Rings[0].Live {
		t.Fatalf("dump of container app: rings %+v", d.Rings)
	}
	if !hasOpenat(d.Entries, "/nonexistent/tick", "ENOENT") {
		t.Errorf("the dump lacks the container's failing openat")
	}
}

// The API server goes away; the runtime still names a container created
// afterwards, in a pod the API never knew.
func TestAPIServerDownNamesFromTheRuntime(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)
	api.Close()

	p := runPod(t, rt, parent, "shop", "offline-0", nsContainer)
	id := p.RunContainer(t, "app", "sh", "-c", "cat /nonexistent/while-down; exec sleep 3600")
	testenv.WaitFor(t, "the app's openat ENOENT series", func() bool {
		v, ok := e.Scrape(t).Value(t, "flightrec_syscall_errors_total", containerLabels(p, "app", "syscall", "openat", "errno", "ENOENT"))
		return ok && v >= 1
	})
	d := mustPodDump(t, e, p, "container=app")
	if len(d.Rings) != 1 || d.Rings[0].ContainerID != id || d.Rings[0].Container != "app" || d.Rings[0].PodUID != p.UID {
		t.Fatalf("dump of container app: rings %+v", d.Rings)
	}
	if !hasOpenat(d.Entries, "/nonexistent/while-down", "ENOENT") {
		t.Errorf("the dump lacks the container's failing openat")
	}
	if sandbox, ok := getIndex(t, e).findRing(p.ID); !ok || sandbox.Pod != p.Name || sandbox.Container != "POD" {
		t.Errorf("the sandbox's ring: %+v (found %v), want pod %s container POD", sandbox, ok, p.Name)
	}
}

// waitFrozen waits until the ring of container id, whose cgroup is gone,
// is frozen (kept for previous=).
func waitFrozen(t *testing.T, e *testenv.Exporter, id string) {
	t.Helper()
	testenv.WaitFor(t, "the frozen ring of container "+id[:12], func() bool {
		r, ok := getIndex(t, e).findRing(id)
		return ok && r.FrozenAt != nil
	})
}

// runFor is how long a container ran, from CRI's start and finish times.
func runFor(t *testing.T, st containerStatus) time.Duration {
	t.Helper()
	started, err1 := time.Parse(time.RFC3339Nano, st.StartedAt)
	finished, err2 := time.Parse(time.RFC3339Nano, st.FinishedAt)
	if err1 != nil || err2 != nil {
		t.Fatalf("container times %q, %q: %v %v", st.StartedAt, st.FinishedAt, err1, err2)
	}
	return finished.Sub(started)
}

// cgroupGone reports whether the cgroup2 directory of a container (rel,
// relative to the mount) has been removed, as runc does when it exits.
func cgroupGone(parent *cgroupParent, rel string) bool {
	_, err := os.Stat(filepath.Join(parent.Mount, rel))
	return os.IsNotExist(err)
}

// excerpt is the first n lines of text.
func excerpt(text string, n int) string {
	lines := strings.SplitN(text, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// runc's setup writes more records than a small ring holds before the
// entrypoint starts. That is the runtime's work, not the container's: a
// container that sleeps once started stays small, while a busy one is
// promoted to the large class. Found on containerd + runc: counted from
// the ring's first record, every container was promoted at start.
func TestRuntimeSetupDoesNotPromote(t *testing.T) {
	rt := runtimeFor(t)
	parent := newCgroupParent(t)
	api := kubetest.NewServer(t)
	e := startExporter(t, rt, parent, api)

	p := runPod(t, rt, parent, "shop", "classes-0", nsContainer)
	quiet := p.RunContainer(t, "quiet", "sleep", "3600")
	api.AddPod(apiPod(p, map[string]string{"quiet": quiet}))
	var q ringInfo
	testenv.WaitFor(t, "the quiet container's application to start", func() bool {
		r, ok := getIndex(t, e).findRing(quiet)
		q = r
		return ok && r.AppSeq > 0
	})
	if q.Written <= 512 {
		t.Fatalf("the quiet container's ring wrote %d records at start: the test needs more than a small ring holds (runc's setup)", q.Written)
	}
	busy := p.RunContainer(t, "busy", "sh", "-c", "while :; do cat /proc/self/stat >/dev/null; done")
	api.UpdatePod(apiPod(p, map[string]string{"quiet": quiet, "busy": busy}))
	testenv.WaitFor(t, "the busy container's ring to be promoted", func() bool {
		r, ok := getIndex(t, e).findRing(busy)
		return ok && r.Large
	})
	// Promotions are judged for every ring at once: the quiet one was
	// judged, with its setup behind it, when the busy one was promoted.
	if r, ok := getIndex(t, e).findRing(quiet); !ok || r.Large || r.Capacity != 512 {
		t.Errorf("quiet container: ring %v, large %v, capacity %d; want a small ring of 512", ok, r.Large, r.Capacity)
	}
}
