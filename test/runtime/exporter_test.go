package runtime_test

import (
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// nodeName is the node the exporters run on, in the fake API's pods.
const nodeName = "node-a"

// startExporter starts an exporter that records the containers below the
// test's cgroup parent and names them from the runtime (CRI) and from api,
// with more flags.
func startExporter(t *testing.T, rt *containerd, parent *cgroupParent, api *kubetest.Server, more ...string) *testenv.Exporter {
	t.Helper()
	return testenv.StartExporter(t, append([]string{"--recorder.cgroup-parent=" + parent.Path, "--kubeconfig=" + api.Kubeconfig(t),
		"--dump.authz=none", "--kubernetes.node-name=" + nodeName, "--kubernetes.cri-endpoint=" + rt.Endpoint()}, more...)...)
}

// apiPod is the pod as the API server has it: running on the node, with a
// status for each container of containers (name -> runtime id).
func apiPod(p *pod, containers map[string]string) *corev1.Pod {
	return kubetest.Pod(p.Namespace, p.Name, p.UID, nodeName, "10.0.0.9", containers)
}

// ringInfo, entry and podDump are the dump's JSON types.
type (
	ringInfo = dump.RingInfo
	entry    = dump.Entry
	podDump  = dump.PodDump
)

// index is the JSON answer of /dump.
type index struct {
	Rings  []ringInfo `json:"rings"`
	Frozen []ringInfo `json:"frozen"`
}

// getPodDump fetches the JSON dump of the pod p with the extra query
// (container=app&previous=1 ...) and returns the status and, on 200, the
// decoded dump.
func getPodDump(t *testing.T, e *testenv.Exporter, p *pod, query string) (int, podDump, string) {
	t.Helper()
	q := "/dump?format=json&namespace=" + p.Namespace + "&pod=" + p.Name
	if query != "" {
		q += "&" + query
	}
	code, body := e.Get(t, q)
	var d podDump
	if code == 200 {
		if err := json.Unmarshal([]byte(body), &d); err != nil {
			t.Fatalf("decoding %s: %v\n%.2000s", q, err, body)
		}
	}
	return code, d, body
}

// mustPodDump is getPodDump failing the test unless it answers 200.
func mustPodDump(t *testing.T, e *testenv.Exporter, p *pod, query string) podDump {
	t.Helper()
	code, d, body := getPodDump(t, e, p, query)
	if code != 200 {
		t.Fatalf("dump of pod %s/%s %s: %d %s", p.Namespace, p.Name, query, code, body)
	}
	return d
}

// getIndex fetches the JSON index of every ring.
func getIndex(t *testing.T, e *testenv.Exporter) index {
	t.Helper()
	body := e.MustGet(t, "/dump?format=json")
	var ix index
	if err := json.Unmarshal([]byte(body), &ix); err != nil {
		t.Fatalf("decoding the dump index: %v\n%.2000s", err, body)
	}
	return ix
}

// findRing returns the ring (live or frozen) of the container or sandbox
// with runtime id id.
func (ix index) findRing(id string) (ringInfo, bool) {
	for _, r := range append(append([]ringInfo(nil), ix.Rings...), ix.Frozen...) {
		if r.ContainerID == id {
			return r, true
		}
	}
	return ringInfo{}, false
}

// hasOpenat reports whether entries hold an openat of a path containing
// path that failed with errno (any outcome when errno is "").
func hasOpenat(entries []entry, path, errno string) bool {
	for _, en := range entries {
		if en.Syscall == "openat" && strings.Contains(en.Params, path) && (errno == "" || en.Errno == errno) {
			return true
		}
	}
	return false
}

// isRuntimeComm reports whether comm is one of runc's own processes
// (runc:[0:PARENT], runc:[1:CHILD], runc:[2:INIT]) or runc itself.
func isRuntimeComm(comm string) bool {
	return comm == "runc" || strings.HasPrefix(comm, "runc:[")
}

// containerLabels are the labels of a container's series.
func containerLabels(p *pod, container string, more ...string) map[string]string {
	l := map[string]string{"namespace": p.Namespace, "pod": p.Name, "container": container}
	for i := 0; i+1 < len(more); i += 2 {
		l[more[i]] = more[i+1]
	}
	return l
}

// errorSeries sums flightrec_syscall_errors_total over the series with
// labels want, and returns them by "syscall errno".
func errorSeries(m testenv.Metrics, want map[string]string) (float64, map[string]float64) {
	total, by := 0.0, map[string]float64{}
	for _, s := range m.Find("flightrec_syscall_errors_total", want) {
		var sc, errno string
		for _, l := range s.Label {
			switch l.GetName() {
			case "syscall":
				sc = l.GetValue()
			case "errno":
				errno = l.GetValue()
			}
		}
		v := s.GetCounter().GetValue()
		total += v
		by[sc+" "+errno] += v
	}
	return total, by
}
