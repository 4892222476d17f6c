package kube

import (
	"bytes"
	"context"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count returns the number of log lines containing s.
func (b *logBuffer) count(s string) int {
	n := 0
	for line := range strings.Lines(b.String()) {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// startClient starts a Client for node1 against kubeconfig, logging into
// the returned buffer at info level. It is stopped when the test ends, and
// must then stop within a deadline.
func startClient(t *testing.T, kubeconfig string) (*Client, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	c, err := New(Config{
		Kubeconfig:     kubeconfig,
		NodeName:       "node1",
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		RequestTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)
	t.Cleanup(func() {
		cancel()
		select {
		case <-c.Done():
		case <-time.After(10 * time.Second):
			t.Error("client still running 10s after its context ended")
		}
	})
	return c, logs
}

const (
	unreachableMsg = "Kubernetes API server unreachable"
	reachableMsg   = "Kubernetes API server reachable again"
)

func TestClient(t *testing.T) {
	t.Parallel()
	s := kubetest.NewServer(t)
	web := kubetest.Pod("shop", "web-0", "11111111-1111-1111-1111-111111111111", "node1", "10.0.0.10",
		map[string]string{"nginx": id1, "logger": id2})
	s.AddPod(web)
	s.AddPod(kubetest.Pod("shop", "db-0", "22222222-2222-2222-2222-222222222222", "node2", "10.0.1.10",
		map[string]string{"postgres": id3}))
	c, logs := startClient(t, s.Kubeconfig(t))
	waitFor(t, "informer synced", c.Synced)

	if c.NodeName() != "node1" {
		t.Errorf("NodeName() = %q", c.NodeName())
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP flightrec_kubernetes_api_reachable 1 when the last list or watch of this node's pods reached the Kubernetes API server; 0 from a failed attempt until the next success (pod labels may then be stale or missing).
# TYPE flightrec_kubernetes_api_reachable gauge
flightrec_kubernetes_api_reachable 1
# HELP flightrec_kubernetes_pods_synced 1 once this node's pods have been listed from the Kubernetes API server at least once.
# TYPE flightrec_kubernetes_pods_synced gauge
flightrec_kubernetes_pods_synced 1
`)); err != nil {
		t.Error(err)
	}
	want := ContainerRef{Namespace: "shop", Pod: "web-0", PodUID: "11111111-1111-1111-1111-111111111111", Container: "nginx", ContainerID: id1}
	if got, ok := c.Container(id1); !ok || got != want {
		t.Errorf("Container(nginx) = %+v, %v; want %+v", got, ok, want)
	}
	if got, ok := c.Container("containerd://" + id2); !ok || got.Container != "logger" {
		t.Errorf("Container(containerd://logger) = %+v, %v", got, ok)
	}
	if got, ok := c.Container(id3); ok {
		t.Errorf("Container of a pod on another node resolved: %+v", got)
	}
	if _, ok := c.Container(""); ok {
		t.Error("empty id resolved")
	}

	pr, ok := c.Pod("11111111_1111_1111_1111_111111111111")
	if !ok || pr.Name != "web-0" || pr.Node != "node1" || pr.IP != "10.0.0.10" || pr.Phase != "Running" || len(pr.Containers) != 2 {
		t.Errorf("Pod(web-0 uid) = %+v, %v", pr, ok)
	}
	if _, ok := c.Pod("22222222-2222-2222-2222-222222222222"); ok {
		t.Error("Pod on another node resolved")
	}

	// A restart: the new run resolves, and so does the crashed one.
	web.Status.ContainerStatuses[0].RestartCount = 1 // logger
	web.Status.ContainerStatuses[0].ContainerID = "containerd://" + id4
	web.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{
		ContainerID: "containerd://" + id2, ExitCode: 137, Reason: "OOMKilled"}
	s.UpdatePod(web)
	waitFor(t, "restarted run resolves", func() bool { _, ok := c.Container(id4); return ok })
	if got, ok := c.Container(id4); !ok || got.Container != "logger" || got.RestartCount != 1 || got.Previous {
		t.Errorf("Container(new run) = %+v, %v", got, ok)
	}
	if got, ok := c.Container(id2); !ok || got.Container != "logger" || got.RestartCount != 0 || !got.Previous {
		t.Errorf("Container(crashed run) = %+v, %v", got, ok)
	}

	// A new pod, then deletions.
	s.AddPod(kubetest.Pod("batch", "job-x", "33333333-3333-3333-3333-333333333333", "node1", "10.0.0.11",
		map[string]string{"work": idE}))
	waitFor(t, "new pod resolves", func() bool { _, ok := c.Container(idE); return ok })
	s.DeletePod("shop", "web-0")
	waitFor(t, "deleted pod stops resolving", func() bool {
		_, ok1 := c.Container(id1)
		_, ok2 := c.Container(id2)
		_, ok4 := c.Container(id4)
		_, ok := c.Pod("11111111-1111-1111-1111-111111111111")
		return !ok1 && !ok2 && !ok4 && !ok
	})
	if _, ok := c.Container(idE); !ok {
		t.Error("other pod stopped resolving")
	}
	if n := logs.count(unreachableMsg); n != 0 {
		t.Errorf("unreachable logged %d times with a working server:\n%s", n, logs)
	}
}

func TestLookupPodAndPeers(t *testing.T) {
	t.Parallel()
	s := kubetest.NewServer(t)
	for _, p := range []*corev1.Pod{
		kubetest.Pod("shop", "db-0", "", "node2", "10.0.1.10", map[string]string{"postgres": id3}),
		kubetest.Pod("test", "db-0", "", "node3", "10.0.2.10", nil),
		kubetest.Pod("monitoring", "flightrec-a", "", "node1", "10.0.0.2", nil),
		kubetest.Pod("monitoring", "flightrec-b", "", "node2", "10.0.1.2", nil),
		kubetest.Pod("monitoring", "flightrec-c", "", "node3", "", nil), // no IP yet
		kubetest.Pod("monitoring", "other", "", "node3", "10.0.2.3", nil),
	} {
		if strings.HasPrefix(p.Name, "flightrec") || p.Name == "other" {
			p.Labels = map[string]string{"app.kubernetes.io/name": "flightrec"}
		}
		if p.Name == "other" {
			p.Labels["app.kubernetes.io/name"] = "other"
		}
		if p.Name == "flightrec-c" {
			p.Status.Phase = corev1.PodPending
		}
		s.AddPod(p)
	}
	c, _ := startClient(t, s.Kubeconfig(t))
	ctx := context.Background()

	lookups := []struct {
		namespace, name string
		want            []string // namespace/node
	}{
		{"shop", "db-0", []string{"shop/node2"}},
		{"", "db-0", []string{"shop/node2", "test/node3"}},
		{"shop", "nope", nil},
	}
	for _, tt := range lookups {
		refs, err := c.LookupPod(ctx, tt.namespace, tt.name)
		if err != nil {
			t.Fatalf("LookupPod(%q, %q): %v", tt.namespace, tt.name, err)
		}
		var got []string
		for _, r := range refs {
			got = append(got, r.Namespace+"/"+r.Node)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LookupPod(%q, %q) = %v, want %v", tt.namespace, tt.name, got, tt.want)
		}
	}
	refs, _ := c.LookupPod(ctx, "shop", "db-0")
	if len(refs) == 1 && (refs[0].IP != "10.0.1.10" || len(refs[0].Containers) != 1 || refs[0].Containers[0].ContainerID != id3) {
		t.Errorf("LookupPod details = %+v", refs[0])
	}
	if _, err := c.LookupPod(ctx, "shop", ""); err == nil {
		t.Error("LookupPod with empty name: no error")
	}

	peers, err := c.Peers(ctx, "monitoring", "app.kubernetes.io/name=flightrec")
	if err != nil {
		t.Fatalf("Peers: %v", err)
	}
	if want := map[string]string{"node1": "10.0.0.2", "node2": "10.0.1.2"}; !reflect.DeepEqual(peers, want) {
		t.Errorf("Peers = %v, want %v", peers, want)
	}
	if _, err := c.Peers(ctx, "monitoring", "a=(b"); err == nil || !strings.Contains(err.Error(), "list peers") {
		t.Errorf("Peers with a bad selector: err = %v", err)
	}

	// With the API server gone, lookups fail with context instead of hanging.
	s.Close()
	if _, err := c.LookupPod(ctx, "shop", "db-0"); err == nil || !strings.Contains(err.Error(), "look up pod shop/db-0") {
		t.Errorf("LookupPod with the server down: err = %v", err)
	}
}

// TestNoStreamingLists runs the client against a server without streaming
// lists: client-go falls back to list and watch, which is no outage.
func TestNoStreamingLists(t *testing.T) {
	t.Parallel()
	s := kubetest.NewServer(t)
	s.SetStreamingLists(false)
	s.AddPod(kubetest.Pod("shop", "web-0", "", "node1", "10.0.0.10", map[string]string{"nginx": id1}))
	c, logs := startClient(t, s.Kubeconfig(t))
	waitFor(t, "labels", func() bool { _, ok := c.Container(id1); return ok })
	s.AddPod(kubetest.Pod("shop", "web-1", "", "node1", "10.0.0.11", map[string]string{"nginx": id2}))
	waitFor(t, "labels of a pod added later", func() bool { _, ok := c.Container(id2); return ok })
	if n := logs.count(unreachableMsg); n != 0 || !c.APIReachable() {
		t.Errorf("unreachable logged %d times, APIReachable() = %v:\n%s", n, c.APIReachable(), logs)
	}
}

// TestAPIDownAtStart starts the client before the API server: it keeps
// trying quietly, and labels appear once the server answers.
func TestAPIDownAtStart(t *testing.T) {
	t.Parallel()
	addr := kubetest.FreeAddr(t)
	c, logs := startClient(t, kubetest.KubeconfigFor(t, addr))

	waitFor(t, "outage noticed", func() bool { return logs.count(unreachableMsg) > 0 })
	waitFor(t, "a retry failed too", func() bool { return c.health.failureCount() >= 2 })
	if c.Synced() || c.APIReachable() {
		t.Errorf("Synced() = %v, APIReachable() = %v with no server", c.Synced(), c.APIReachable())
	}
	if _, ok := c.Container(id1); ok {
		t.Error("resolved a container with no server")
	}

	s := kubetest.NewServerAt(t, addr)
	s.AddPod(kubetest.Pod("shop", "web-0", "", "node1", "10.0.0.10", map[string]string{"nginx": id1}))
	waitFor(t, "labels after the server came up", func() bool { _, ok := c.Container(id1); return ok })
	waitFor(t, "recovery logged", func() bool { return logs.count(reachableMsg) == 1 })

	if n := logs.count(unreachableMsg); n != 1 {
		t.Errorf("unreachable logged %d times, want once:\n%s", n, logs)
	}
	waitFor(t, "synced", c.Synced)
	if !c.APIReachable() {
		t.Error("APIReachable() = false after recovery")
	}
}

// TestAPIOutage takes the API server away while the client runs and brings
// a new one back at the same address: changes made meanwhile show up.
func TestAPIOutage(t *testing.T) {
	t.Parallel()
	s := kubetest.NewServer(t)
	addr := s.Addr()
	s.AddPod(kubetest.Pod("shop", "web-0", "", "node1", "10.0.0.10", map[string]string{"nginx": id1}))
	c, logs := startClient(t, s.Kubeconfig(t))
	waitFor(t, "labels", func() bool { _, ok := c.Container(id1); return ok })

	s.Close()
	waitFor(t, "outage noticed", func() bool { return logs.count(unreachableMsg) == 1 })
	if _, ok := c.Container(id1); !ok {
		t.Error("labels lost during the outage")
	}

	// The new server has other pods: web-0 went away, api-0 came.
	s2 := kubetest.NewServerAt(t, addr)
	s2.AddPod(kubetest.Pod("shop", "api-0", "", "node1", "10.0.0.12", map[string]string{"api": id2}))
	waitFor(t, "state after the outage", func() bool {
		_, old := c.Container(id1)
		_, cur := c.Container(id2)
		return !old && cur
	})
	waitFor(t, "recovery logged", func() bool { return logs.count(reachableMsg) == 1 })
	if n := logs.count(unreachableMsg); n != 1 {
		t.Errorf("unreachable logged %d times, want once:\n%s", n, logs)
	}
}

func TestNew(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	bad := filepath.Join(t.TempDir(), "bad")
	if err := os.WriteFile(bad, []byte("{not yaml"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := kubetest.KubeconfigFor(t, "127.0.0.1:1") // nothing listens: New must not care
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"no node", Config{Kubeconfig: good}, "node name is required"},
		{"missing kubeconfig", Config{Kubeconfig: filepath.Join(t.TempDir(), "nope"), NodeName: "n"}, "load kubeconfig"},
		{"bad kubeconfig", Config{Kubeconfig: bad, NodeName: "n"}, "load kubeconfig"},
		{"not in a cluster", Config{NodeName: "n"}, "in-cluster config"},
		{"unreachable server", Config{Kubeconfig: good, NodeName: "n"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(tt.cfg)
			if tt.wantErr == "" {
				if err != nil || c == nil {
					t.Fatalf("New: %v", err)
				}
				if c.Synced() {
					t.Error("synced before Start")
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New: err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestInCluster(t *testing.T) {
	tests := []struct {
		host, port string
		want       bool
	}{{"10.96.0.1", "443", true}, {"10.96.0.1", "", false}, {"", "443", false}, {"", "", false}}
	for _, tt := range tests {
		t.Setenv("KUBERNETES_SERVICE_HOST", tt.host)
		t.Setenv("KUBERNETES_SERVICE_PORT", tt.port)
		if got := InCluster(); got != tt.want {
			t.Errorf("InCluster() with host %q port %q = %v", tt.host, tt.port, got)
		}
	}
}

// TestAPISlow points the client at a server that accepts connections and
// never answers: requests time out, the outage is logged once, and nothing
// waits for the server.
func TestAPISlow(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, conn) // held open, never answered
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})

	logs := &logBuffer{}
	c, err := New(Config{
		Kubeconfig:     kubetest.KubeconfigFor(t, l.Addr().String()),
		NodeName:       "node1",
		Logger:         slog.New(slog.NewTextHandler(logs, nil)),
		RequestTimeout: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.Start(ctx)

	begin := time.Now()
	if _, ok := c.Container(id1); ok {
		t.Error("resolved a container with no answer from the server")
	}
	if _, err := c.LookupPod(context.Background(), "ns", "p"); err == nil {
		t.Error("LookupPod without an answer: no error")
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("lookups took %v with a silent server", d)
	}
	waitFor(t, "outage noticed and retried", func() bool { return c.health.failureCount() >= 2 })
	if n := logs.count(unreachableMsg); n != 1 || c.APIReachable() {
		t.Errorf("unreachable logged %d times, APIReachable() = %v:\n%s", n, c.APIReachable(), logs)
	}
	cancel()
	select {
	case <-c.Done():
	case <-time.After(10 * time.Second):
		t.Error("client still running 10s after its context ended")
	}
}
