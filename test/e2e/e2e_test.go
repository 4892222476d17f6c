// Package e2e_test runs the whole chain as users meet it: the real exporter
// in Kubernetes mode (API served by the test), a real Prometheus scraping it
// with the shipped rules, a real Alertmanager sending to a webhook here. A
// crash-looping container trips the permission alert; the alert's dump_url
// shows why; every dashboard query returns data. Needs root, prometheus and
// prometheus-alertmanager (Debian packages; .ci/run installs them).
package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/dashboards"
	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// daemon starts a server process and stops it when the test ends.
func daemon(t *testing.T, name string, args ...string) {
	t.Helper()
	bin := testenv.RequireTool(t, name, "the end-to-end test runs it")
	cmd := exec.Command(bin, args...)
	log, _ := os.Create(filepath.Join(t.TempDir(), name+".log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("%s log:\n%s", name, b)
		}
	})
}

func waitReady(t *testing.T, what, url string) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready at %s", what, url)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// webhook collects what Alertmanager sends.
type webhook struct {
	mu     sync.Mutex
	alerts []alert
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func (h *webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Alerts []alert `json:"alerts"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err == nil {
		h.mu.Lock()
		h.alerts = append(h.alerts, msg.Alerts...)
		h.mu.Unlock()
	}
}

func (h *webhook) find(name string) (alert, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, a := range h.alerts {
		if a.Labels["alertname"] == name && a.Status == "firing" {
			return a, true
		}
	}
	return alert{}, false
}

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCrashLoopAlertLinksToTheDump(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test skipped in -short mode")
	}
	testenv.RequireRoot(t)
	root := testenv.ModuleRoot(t)
	dir := t.TempDir()
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	uid := testenv.RandomUID()
	pod := kubetest.Pod("shop", "cart", uid, "node-a", "10.0.0.9", map[string]string{"app": testenv.RandomHex(32)})
	api.AddPod(pod)
	// Dumps follow Kubernetes RBAC (the default with the Kubernetes API): the
	// person following the alert's link may read the pod's logs.
	api.AddToken("sre-token", kubetest.Identity{User: "sre"})
	api.Allow(kubetest.Rule{Subject: "sre", Namespace: "shop", Verb: "get", Resource: "pods", Subresource: "log"})

	exporterAddr := testenv.FreePort(t)
	exporter := "http://" + exporterAddr
	testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t),
		"--kubernetes.node-name=node-a", "--web.listen-address="+exporterAddr, "--web.external-url="+exporter,
		"--recorder.reclaim-interval=200ms")

	hook := &webhook{}
	hookSrv := httptest.NewServer(hook)
	t.Cleanup(hookSrv.Close)

	amAddr := testenv.FreePort(t)
	amConfig := write(t, filepath.Join(dir, "alertmanager.yml"), fmt.Sprintf(`
route:
  receiver: test
  group_by: [alertname, namespace, pod, container]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: test
    webhook_configs:
      - url: %s
        send_resolved: false
`, hookSrv.URL))
	daemon(t, "prometheus-alertmanager", "--config.file="+amConfig, "--storage.path="+filepath.Join(dir, "am"),
		"--web.listen-address="+amAddr, "--cluster.listen-address=")
	waitReady(t, "alertmanager", "http://"+amAddr+"/-/ready")

	promAddr := testenv.FreePort(t)
	promConfig := write(t, filepath.Join(dir, "prometheus.yml"), fmt.Sprintf(`
global:
  scrape_interval: 1s
  evaluation_interval: 1s
  external_labels:
    flightrec_dump_base_url: %s
rule_files:
  - %s
alerting:
  alertmanagers:
    - static_configs:
        - targets: [%q]
scrape_configs:
  - job_name: flightrec-exporter
    honor_labels: true
    static_configs:
      - targets: [%q]
`, exporter, filepath.Join(root, "alerts", "flightrec.rules.yml"), amAddr, exporterAddr))
	daemon(t, "prometheus", "--config.file="+promConfig, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr, "--enable-feature=exemplar-storage")
	prom := "http://" + promAddr
	waitReady(t, "prometheus", prom+"/-/ready")

	// The crash loop: each run in a new container cgroup, as kubelet does,
	// writes /etc/passwd as nobody, fails, exits 1; some fsync and lock
	// contention on the way so that every dashboard panel has data.
	workload := testenv.Build(t, "./test/workload")
	scratch := t.TempDir()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		prev := ""
		for run := 0; ; run++ {
			select {
			case <-stop:
				return
			default:
			}
			id := testenv.RandomHex(32)
			p := pod.DeepCopy()
			st := &p.Status.ContainerStatuses[0]
			st.ContainerID, st.RestartCount = "containerd://"+id, int32(run)
			if prev != "" {
				st.LastTerminationState = corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, ContainerID: "containerd://" + prev}}
			}
			api.UpdatePod(p)
			if err := crashOnce(cg, testenv.KubeletPath("besteffort", uid, id), workload, scratch); err != nil {
				t.Errorf("crash loop, run %d: %v", run, err)
				return
			}
			prev = id
			time.Sleep(300 * time.Millisecond) // back-off between restarts
		}
	}()
	// Stopped by defer, before any cleanup closes what the loop still uses.
	var stopOnce sync.Once
	stopLoop := func() { stopOnce.Do(func() { close(stop); wg.Wait() }) }
	defer stopLoop()

	// for: 2m in the shipped rule, then Alertmanager's group_wait.
	var fired alert
	for deadline := time.Now().Add(6 * time.Minute); ; {
		if a, ok := hook.find("FlightrecPermissionDenied"); ok {
			fired = a
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("FlightrecPermissionDenied did not reach the webhook within 6 minutes; got %+v", hook.alerts)
		}
		time.Sleep(time.Second)
	}
	if fired.Labels["namespace"] != "shop" || fired.Labels["pod"] != "cart" || fired.Labels["container"] != "app" {
		t.Errorf("alert labels %v: want the crash-looping pod's namespace/pod/container", fired.Labels)
	}
	wantURL := exporter + "/dump?namespace=shop&pod=cart&container=app&failed=true"
	if fired.Annotations["dump_url"] != wantURL {
		t.Fatalf("dump_url %q, want %q", fired.Annotations["dump_url"], wantURL)
	}
	req, err := http.NewRequest(http.MethodGet, fired.Annotations["dump_url"], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sre-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	text := string(body)
	denied := regexp.MustCompile(`(?m) openat +\(AT_FDCWD, "/etc/passwd", O_WRONLY\|O_CREAT\|O_APPEND, 0666\) +-13 EACCES `)
	if resp.StatusCode != 200 || len(denied.FindAllString(text, -1)) < 2 || !strings.Contains(text, "exited with 1") {
		t.Fatalf("GET dump_url: %d\n%s", resp.StatusCode, text)
	}
	t.Logf("alert %s fired; its dump:\n%s", fired.Labels["alertname"], text)

	// The counter's exemplar names the record of the latest failure: the
	// dump shows it, and the records around it. The loop stops first, so
	// that the latest failure stays in the last run's ring.
	stopLoop()
	followExemplar(t, prom, exporter)

	// Every dashboard query returns data.
	targets, err := dashboards.Targets(map[string]string{"namespace": "shop", "pod": "cart", "container": "app",
		"__rate_interval": "1m", "__range": "10m"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		n, err := query(prom, tg.Expr)
		if err != nil || n == 0 {
			t.Errorf("dashboard %s panel %q: %d series (%v) for %s", tg.Dashboard, tg.Panel, n, err, tg.Expr)
		}
	}
}

// query runs an instant PromQL query and returns how many series it gave.
func query(prom, expr string) (int, error) {
	resp, err := http.Get(prom + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, err
	}
	if r.Status != "success" {
		return 0, fmt.Errorf("%s", r.Error)
	}
	return len(r.Data.Result), nil
}

// crashOnce is one run of the crash loop in a fresh container cgroup.
func crashOnce(cg *testenv.Cgroups, rel, workload, scratch string) error {
	c, err := cg.Mkdir(rel)
	if err != nil {
		return err
	}
	runs := []struct {
		cred *syscall.Credential
		argv []string
	}{
		{nil, []string{workload, "fsync", filepath.Join(scratch, "f"), "3"}},
		{nil, []string{workload, "mutex", "2", "5"}},
		{&syscall.Credential{Uid: 65534, Gid: 65534}, []string{"/bin/sh", "-c", "echo x >> /etc/passwd; echo x >> /etc/passwd; exit 1"}},
	}
	for _, r := range runs {
		if _, _, err := cg.Exec(c, r.cred, r.argv[0], r.argv[1:]...); err != nil {
			return err
		}
	}
	return cg.Rmdir(c)
}

// followExemplar takes the newest exemplar of the app's EACCES counter from
// Prometheus and finds its record in the dump with around=SEQ.
func followExemplar(t *testing.T, prom, exporter string) {
	t.Helper()
	series := `flightrec_syscall_errors_total{namespace="shop",pod="cart",container="app",errno="EACCES"}`
	var last string
	testenv.WaitFor(t, "the exemplar's record in the dump", func() bool {
		run, seq, err := newestExemplar(prom, series)
		if err != nil {
			last = err.Error()
			return false
		}
		req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("%s/dump?format=json&namespace=shop&pod=cart&container=app&cgroup_id=%d&around=%d",
			exporter, run, seq), nil)
		req.Header.Set("Authorization", "Bearer sre-token")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			last = err.Error()
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var d dump.PodDump
		if resp.StatusCode != 200 || json.Unmarshal(body, &d) != nil {
			last = fmt.Sprintf("cgroup_id=%d around=%d: %d %.300s", run, seq, resp.StatusCode, body)
			return false
		}
		for _, en := range d.Entries {
			if en.Seq == seq {
				if en.Syscall != "openat" || en.Errno != "EACCES" || !en.Incident {
					t.Fatalf("exemplar record %d: %s %s (incident %v), want the failed openat", seq, en.Syscall, en.Errno, en.Incident)
				}
				t.Logf("exemplar cgroup_id=%d seq=%d: %s(%s) = %s, with %d records around it", run, seq, en.Syscall, en.Params, en.RetText, len(d.Entries)-1)
				return true
			}
		}
		last = fmt.Sprintf("around=%d: the record is not in the answer", seq)
		return false
	})
	if t.Failed() {
		t.Log(last)
	}
}

// newestExemplar asks Prometheus for the exemplars of series over the last
// 10 minutes and returns the run (cgroup_id) and record (seq) the newest
// names.
func newestExemplar(prom, series string) (run, seq uint64, err error) {
	now := time.Now()
	q := url.Values{"query": {series}, "start": {fmt.Sprint(now.Add(-10 * time.Minute).Unix())}, "end": {fmt.Sprint(now.Unix())}}
	resp, err := http.Get(prom + "/api/v1/query_exemplars?" + q.Encode())
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Data   []struct {
			Exemplars []struct {
				Labels    map[string]string `json:"labels"`
				Timestamp float64           `json:"timestamp"`
			} `json:"exemplars"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return 0, 0, err
	}
	var labels map[string]string
	newest := -1.0
	for _, s := range r.Data {
		for _, e := range s.Exemplars {
			if e.Timestamp > newest {
				newest, labels = e.Timestamp, e.Labels
			}
		}
	}
	if labels == nil {
		return 0, 0, fmt.Errorf("no exemplar of %s yet (%s)", series, r.Status)
	}
	if run, err = strconv.ParseUint(labels["cgroup_id"], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("exemplar %v: cgroup_id: %w", labels, err)
	}
	if seq, err = strconv.ParseUint(labels["seq"], 10, 64); err != nil {
		return 0, 0, fmt.Errorf("exemplar %v: seq: %w", labels, err)
	}
	return run, seq, nil
}
