package access_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// kubePod adds a pod with one container "app" on node to api, makes its
// kubelet-shaped cgroup below parent (relative to the test's subtree) and
// runs echo in it; it returns the container's cgroup.
func kubePod(t *testing.T, cg *testenv.Cgroups, api *kubetest.Server, parent, namespace, name, node string) string {
	t.Helper()
	uid, id := testenv.RandomUID(), testenv.RandomHex(32)
	api.AddPod(kubetest.Pod(namespace, name, uid, node, "10.0.0.9", map[string]string{"app": id}))
	c := cg.Make(t, parent+testenv.KubeletPath("besteffort", uid, id))
	if _, code := cg.Run(t, c, nil, "/bin/echo", "hello from "+namespace); code != 0 {
		t.Fatalf("echo in %s/%s failed", namespace, name)
	}
	return c
}

// waitLabelled waits until the exporter knows the pod from the API: its
// dump answers something other than 404.
func waitLabelled(t *testing.T, e *testenv.Exporter, namespace, pod string) {
	t.Helper()
	testenv.WaitFor(t, "the informer to know "+namespace+"/"+pod, func() bool {
		code, _ := e.Get(t, "/dump?namespace="+namespace+"&pod="+pod)
		return code != http.StatusNotFound
	})
}

func TestNamespaceFiltersInKubernetesMode(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	// The namespace lists on their own: RBAC (--dump.authz) is off here.
	common := []string{"--recorder.cgroup-parent=" + cg.Parent, "--kubeconfig=" + api.Kubeconfig(t), "--kubernetes.node-name=node-a", "--dump.authz=none"}
	cases := []struct {
		name    string
		flags   []string
		allowed map[string]bool // namespace ("" for the plain cgroup) → dumpable
		e       *testenv.Exporter
	}{
		// An allow list admits only its namespaces, minus the excluded ones,
		// and no plain-host cgroup.
		{name: "allow and exclude", flags: []string{"--dump.namespaces=team-a,team-b", "--dump.exclude-namespaces=team-b"},
			allowed: map[string]bool{"team-a": true, "team-b": false, "team-c": false, "": false}},
		// An exclude list alone denies only its namespaces.
		{name: "exclude only", flags: []string{"--dump.exclude-namespaces=team-b"},
			allowed: map[string]bool{"team-a": true, "team-b": false, "team-c": true, "": true}},
	}
	// Both exporters record the same containers from their first syscall.
	for i := range cases {
		cases[i].e = testenv.StartExporter(t, append(common, cases[i].flags...)...)
	}
	pods := map[string]string{} // namespace → container cgroup
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		pods[ns] = kubePod(t, cg, api, "", ns, "web", "node-a")
	}
	plain := cg.Make(t, "/system.slice/app.service")
	if _, code := cg.Run(t, plain, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.e
			for _, ns := range []string{"team-a", "team-b", "team-c"} {
				waitLabelled(t, e, ns, "web")
			}
			index := e.MustGet(t, "/dump")
			for ns, allowed := range c.allowed {
				cgroup, queries := plain, []string{"/dump?cgroup=" + url.QueryEscape(plain)}
				if ns != "" {
					cgroup = pods[ns]
					queries = append([]string{"/dump?cgroup=" + url.QueryEscape(cgroup)},
						"/dump?namespace="+ns+"&pod=web", "/dump?namespace="+ns+"&pod=web&container=app", "/dump?pod=web&namespace="+ns+"&format=json")
				}
				for _, q := range queries {
					code, body := e.Get(t, q)
					switch {
					case allowed && (code != 200 || !strings.Contains(body, "execve")):
						t.Errorf("%s: %d, want 200 with the recorded syscalls:\n%.300s", q, code, body)
					case !allowed && (code != http.StatusForbidden || !strings.Contains(body, "not allowed") || strings.Contains(body, "execve")):
						t.Errorf("%s: %d %q, want 403 without records", q, code, body)
					}
				}
				if listed := strings.Contains(index, cgroup); listed != allowed {
					t.Errorf("index lists %s (%q): %v, want %v", cgroup, ns, listed, allowed)
				}
			}
		})
	}
}

// headerLog is a TLS reverse proxy in front of an exporter that records
// the headers of the requests it passes on.
type headerLog struct {
	mu      sync.Mutex
	headers []http.Header
}

func (h *headerLog) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.headers)
}

func (h *headerLog) last() http.Header {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.headers) == 0 {
		return nil
	}
	return h.headers[len(h.headers)-1]
}

// startHeaderLog serves TLS with cert on addr and forwards to target over
// TLS verified by pool.
func startHeaderLog(t *testing.T, addr, target string, cert tls.Certificate, pool *x509.CertPool) *headerLog {
	t.Helper()
	h := &headerLog{}
	u, _ := url.Parse("https://" + target)
	proxy := httputil.NewSingleHostReverseProxy(u)
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	l, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.headers = append(h.headers, r.Header.Clone())
		h.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return h
}

func TestForwardingOverTLSWithBasicAuth(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	dir, otherDir := t.TempDir(), t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	otherCA, _, _ := selfSigned(t, otherDir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	config := webConfig(t, dir, certFile, keyFile)
	nodeA, nodeB := cg.Make(t, "/node-a"), cg.Make(t, "/node-b")
	addrA, addrB, proxyB := testenv.FreePort(t), testenv.FreePort(t), testenv.FreePort(t)
	// The API points node b's exporter at a proxy that logs what node a sends.
	api.AddPod(kubetest.ExporterPod("node-a", addrA))
	api.AddPod(kubetest.ExporterPod("node-b", proxyB))
	// Basic auth from the web config, not RBAC: the two exclude each other.
	common := []string{"--kubeconfig=" + api.Kubeconfig(t), "--dump.peer-namespace=monitoring", "--web.config.file=" + config,
		"--dump.peer-scheme=https", "--dump.authz=none"}
	a := testenv.StartExporterTLS(t, pool, "sre", "s3cret", append(common, "--recorder.cgroup-parent="+nodeA, "--dump.exclude-namespaces=vault",
		"--kubernetes.node-name=node-a", "--web.listen-address="+addrA, "--dump.peer-ca-file="+certFile)...)
	b := testenv.StartExporterTLS(t, pool, "sre", "s3cret", append(common, "--recorder.cgroup-parent="+nodeB,
		"--kubernetes.node-name=node-b", "--web.listen-address="+addrB, "--dump.peer-ca-file="+certFile,
		"--dump.exclude-namespaces=vault,ops")...)
	log := startHeaderLog(t, proxyB, addrB, cert, pool)

	kubePod(t, cg, api, "/node-b", "shop", "cart", "node-b")
	kubePod(t, cg, api, "/node-b", "vault", "keys", "node-b")
	waitLabelled(t, b, "shop", "cart")
	kubePod(t, cg, api, "/node-b", "ops", "jobs", "node-b")
	waitLabelled(t, b, "vault", "keys")
	waitLabelled(t, b, "ops", "jobs")

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 30 * time.Second}
	ask := func(base, query, user, pass string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/dump?"+query, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", query, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("GET %s: %v", query, err)
		}
		return resp.StatusCode, string(b), resp.Header
	}

	// Asked on node a with credentials: answered by node b through TLS,
	// with the credentials passed on and the hop marked.
	code, body, hdr := ask(a.URL, "namespace=shop&pod=cart", "sre", "s3cret")
	if code != 200 || !strings.Contains(body, "hello from shop") || !strings.Contains(body, "node=node-b") {
		t.Fatalf("forwarded dump: %d\n%.400s", code, body)
	}
	if got := hdr.Get("X-Flightrec-Node"); got != "node-b" {
		t.Errorf("X-Flightrec-Node = %q, want node-b", got)
	}
	sent := log.last()
	if sent == nil {
		t.Fatal("node a did not go through node b's address")
	}
	if user, pass, ok := (&http.Request{Header: sent}).BasicAuth(); !ok || user != "sre" || pass != "s3cret" {
		t.Errorf("forwarded Authorization %q: want the client's sre credentials", sent.Get("Authorization"))
	}
	if got := sent.Get("X-Flightrec-Forwarded-From"); got != "node-a" {
		t.Errorf("X-Flightrec-Forwarded-From = %q, want node-a", got)
	}

	// Without or with wrong credentials node a answers 401 itself and
	// forwards nothing.
	n := log.count()
	for _, cred := range [][2]string{{"", ""}, {"sre", "wrong"}} {
		if code, _, _ := ask(a.URL, "namespace=shop&pod=cart", cred[0], cred[1]); code != http.StatusUnauthorized {
			t.Errorf("credentials %q: %d, want 401", cred, code)
		}
	}
	if log.count() != n {
		t.Errorf("unauthenticated requests were forwarded")
	}

	// A namespace excluded everywhere is refused by node a itself: 403,
	// nothing forwarded.
	n = log.count()
	code, body, hdr = ask(a.URL, "namespace=vault&pod=keys", "sre", "s3cret")
	if code != http.StatusForbidden || !strings.Contains(body, "not allowed") || hdr.Get("X-Flightrec-Node") != "" || log.count() != n {
		t.Errorf("excluded namespace on node a: %d %q (node %q, %d forwarded), want node a's own 403", code, body, hdr.Get("X-Flightrec-Node"), log.count()-n)
	}
	// A namespace only node b excludes: node b's 403 comes back through a.
	code, body, hdr = ask(a.URL, "namespace=ops&pod=jobs", "sre", "s3cret")
	if code != http.StatusForbidden || !strings.Contains(body, "not allowed") || strings.Contains(body, "execve") || hdr.Get("X-Flightrec-Node") != "node-b" {
		t.Errorf("namespace excluded on node b, asked on node a: %d %q (node %q), want node b's 403", code, body, hdr.Get("X-Flightrec-Node"))
	}

	// --dump.peer-ca-file is used: a CA that did not sign node b's
	// certificate makes the forward fail instead of trusting anyone.
	addrC := testenv.FreePort(t)
	c := testenv.StartExporterTLS(t, pool, "sre", "s3cret", append(common, "--recorder.cgroup-parent="+cg.Make(t, "/node-c"), "--dump.exclude-namespaces=vault",
		"--kubernetes.node-name=node-c", "--web.listen-address="+addrC, "--dump.peer-ca-file="+otherCA)...)
	waitLabelled(t, c, "shop", "cart")
	code, body, _ = ask(c.URL, "namespace=shop&pod=cart", "sre", "s3cret")
	if code != http.StatusBadGateway || strings.Contains(body, "hello from shop") {
		t.Errorf("forward with the wrong peer CA: %d %.300q, want 502", code, body)
	}
}
