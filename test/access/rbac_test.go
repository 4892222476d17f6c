package access_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/route"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// getAs fetches path with token as bearer token ("" sends none).
func getAs(t *testing.T, e *testenv.Exporter, path, token string, header ...string) (int, string) {
	t.Helper()
	if token != "" {
		header = append(header, "Authorization", "Bearer "+token)
	}
	return e.Get(t, path, header...)
}

// users gives api the test's tokens: alice may read pod logs in team-a,
// bob is a valid user with no rights.
func users(api *kubetest.Server) {
	api.AddToken("alice-token", kubetest.Identity{User: "alice", Groups: []string{"team-a-devs"}})
	api.AddToken("bob-token", kubetest.Identity{User: "bob"})
	api.Allow(kubetest.Rule{Subject: "team-a-devs", Namespace: "team-a", Verb: "get", Resource: "pods", Subresource: "log"})
	// Rights that are not pods/log do not open dumps.
	api.Allow(kubetest.Rule{Subject: "bob", Namespace: "team-a", Verb: "get", Resource: "pods"})
}

func TestDumpsFollowKubernetesRBAC(t *testing.T) {
	cg := testenv.NewCgroups(t)
	api := kubetest.NewServer(t)
	users(api)
	cgroup := map[string]string{}
	for _, p := range []struct{ ns, name string }{{"team-a", "web"}, {"team-b", "db"}} {
		uid, id := testenv.RandomUID(), testenv.RandomHex(32)
		api.AddPod(kubetest.Pod(p.ns, p.name, uid, "node-a", "10.0.0.2", map[string]string{"app": id}))
		cgroup[p.name] = cg.Make(t, testenv.KubeletPath("besteffort", uid, id))
	}
	// No --dump.authz: with the Kubernetes API it is the default.
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--kubeconfig="+api.Kubeconfig(t),
		"--kubernetes.node-name=node-a")
	for _, name := range []string{"web", "db"} {
		if _, code := cg.Run(t, cgroup[name], nil, "/bin/echo", "hello from "+name); code != 0 {
			t.Fatal("echo failed")
		}
	}
	webDump := "/dump?namespace=team-a&pod=web"
	testenv.WaitFor(t, "the informer to name team-a/web", func() bool {
		code, _ := getAs(t, e, webDump, "alice-token")
		return code == http.StatusOK
	})

	// No token, a token the API does not know, basic auth: 401 everywhere.
	for _, path := range []string{webDump, "/dump?namespace=team-b&pod=db", "/dump?pod=nosuchpod", "/dump",
		"/dump?cgroup=" + url.QueryEscape(cgroup["web"])} {
		for _, h := range [][]string{nil, {"Authorization", "Bearer forged"}, {"Authorization", "Basic YWxpY2U6eA=="}} {
			if code, body := e.Get(t, path, h...); code != http.StatusUnauthorized {
				t.Errorf("%s with %q: %d %q, want 401", path, h, code, body)
			}
		}
	}
	// bob is a user, but may not read pod logs anywhere.
	for _, path := range []string{webDump, "/dump?namespace=team-b&pod=db", "/dump?cgroup=" + url.QueryEscape(cgroup["web"])} {
		if code, body := getAs(t, e, path, "bob-token"); code != http.StatusForbidden || !strings.Contains(body, "get pods/log") {
			t.Errorf("bob: %s: %d %q, want 403 naming the permission", path, code, body)
		}
	}
	// alice reads team-a's pod, not team-b's, however she asks.
	code, body := getAs(t, e, webDump, "alice-token")
	if code != http.StatusOK || !strings.Contains(body, "hello from web") {
		t.Errorf("alice: team-a/web: %d\n%.400s", code, body)
	}
	if code, body := getAs(t, e, "/dump?format=json&cgroup="+url.QueryEscape(cgroup["web"]), "alice-token"); code != http.StatusOK || !strings.Contains(body, "hello from web") {
		t.Errorf("alice: team-a/web by cgroup: %d %.200q", code, body)
	}
	for _, path := range []string{"/dump?namespace=team-b&pod=db", "/dump?pod=db", "/dump?cgroup=" + url.QueryEscape(cgroup["db"]),
		"/dump?namespace=team-b&pod=nosuchpod"} {
		if code, body := getAs(t, e, path, "alice-token"); code != http.StatusForbidden || strings.Contains(body, "hello from db") {
			t.Errorf("alice: %s: %d %.200q, want 403", path, code, body)
		}
	}
	// The index lists what the caller may read.
	index := func(token string) dump.Index {
		code, body := getAs(t, e, "/dump?format=json", token)
		var idx dump.Index
		if code != http.StatusOK {
			t.Fatalf("index as %s: %d %s", token, code, body)
		}
		if err := json.Unmarshal([]byte(body), &idx); err != nil {
			t.Fatal(err)
		}
		return idx
	}
	var pods []string
	for _, r := range index("alice-token").Rings {
		pods = append(pods, r.Namespace+"/"+r.Pod)
	}
	if strings.Join(pods, ",") != "team-a/web" {
		t.Errorf("alice's index: %q, want team-a/web only", pods)
	}
	if idx := index("bob-token"); len(idx.Rings) != 0 || len(idx.Frozen) != 0 {
		t.Errorf("bob's index is not empty: %+v", idx.Rings)
	}
	// Prometheus scrapes without a token.
	if code, _ := e.Get(t, "/metrics"); code != http.StatusOK {
		t.Errorf("/metrics: %d, want 200 without a token", code)
	}
	// Decisions are cached: many dumps, few reviews.
	before := len(api.Reviews())
	for range 5 {
		getAs(t, e, webDump, "alice-token")
	}
	if n := len(api.Reviews()) - before; n != 0 {
		t.Errorf("5 more dumps by alice cost %d reviews, want 0 (cached)", n)
	}
}

func sars(api *kubetest.Server, user, namespace string) int {
	n := 0
	for _, r := range api.Reviews() {
		if r.Kind == "SubjectAccessReview" && r.User == user && r.Namespace == namespace {
			n++
		}
	}
	return n
}

func TestForwardedDumpsAreCheckedOnBothNodes(t *testing.T) {
	cg := testenv.NewCgroups(t)
	// Each node's exporter asks its own API server, so that the test sees
	// which node asked what; both hold the same pods and tokens. carol may
	// read team-a on node a's API only: her request passes node a, and node
	// b, which checks again, refuses it.
	apiA, apiB := kubetest.NewServer(t), kubetest.NewServer(t)
	addrA, addrB := testenv.FreePort(t), testenv.FreePort(t)
	uid, id := testenv.RandomUID(), testenv.RandomHex(32)
	for _, api := range []*kubetest.Server{apiA, apiB} {
		users(api)
		api.AddToken("carol-token", kubetest.Identity{User: "carol"})
		api.AddToken("ops-token", kubetest.Identity{User: "ops"})
		api.Allow(kubetest.Rule{Subject: "ops", Verb: "get", Resource: "pods", Subresource: "log"}) // cluster-wide
		api.AddPod(kubetest.ExporterPod("node-a", addrA))
		api.AddPod(kubetest.ExporterPod("node-b", addrB))
		api.AddPod(kubetest.Pod("team-a", "cart", uid, "node-b", "10.0.1.5", map[string]string{"app": id}))
	}
	apiA.Allow(kubetest.Rule{Subject: "carol", Namespace: "team-a", Verb: "get", Resource: "pods", Subresource: "log"})
	nodeA, nodeB := cg.Make(t, "/node-a"), cg.Make(t, "/node-b")
	common := []string{"--dump.peer-namespace=monitoring", "--dump.authz=kubernetes"}
	a := testenv.StartExporter(t, append(common, "--kubeconfig="+apiA.Kubeconfig(t), "--recorder.cgroup-parent="+nodeA,
		"--kubernetes.node-name=node-a", "--web.listen-address="+addrA)...)
	b := testenv.StartExporter(t, append(common, "--kubeconfig="+apiB.Kubeconfig(t), "--recorder.cgroup-parent="+nodeB,
		"--kubernetes.node-name=node-b", "--web.listen-address="+addrB)...)
	c := cg.Make(t, "/node-b"+testenv.KubeletPath("besteffort", uid, id))
	if _, code := cg.Run(t, c, nil, "/bin/echo", "hello from node b"); code != 0 {
		t.Fatal("echo failed")
	}
	const path = "/dump?format=json&namespace=team-a&pod=cart"
	testenv.WaitFor(t, "node b to label the pod", func() bool {
		code, _ := getAs(t, b, path, "ops-token")
		return code == http.StatusOK
	})

	// Asked on node a, answered by node b: both checked alice.
	code, body := getAs(t, a, path, "alice-token")
	var d dump.PodDump
	if code != http.StatusOK || json.Unmarshal([]byte(body), &d) != nil || d.Node != "node-b" {
		t.Fatalf("alice through node a: %d %.300s", code, body)
	}
	if !strings.Contains(body, "hello from node b") {
		t.Error("forwarded dump lacks the workload's syscalls")
	}
	if sars(apiA, "alice", "team-a") != 1 || sars(apiB, "alice", "team-a") != 1 {
		t.Errorf("alice was not checked once on each node: node a %+v, node b %+v", apiA.Reviews(), apiB.Reviews())
	}
	// carol passes node a's check, node b refuses her.
	code, body = getAs(t, a, path, "carol-token")
	if code != http.StatusForbidden || !strings.Contains(body, `"carol"`) || sars(apiA, "carol", "team-a") != 1 || sars(apiB, "carol", "team-a") != 1 {
		t.Errorf("carol through node a: %d %q; reviews a %+v b %+v", code, body, apiA.Reviews(), apiB.Reviews())
	}
	// bob is refused on node a before anything is forwarded.
	if code, body := getAs(t, a, path, "bob-token"); code != http.StatusForbidden || sars(apiB, "bob", "team-a") != 0 {
		t.Errorf("bob through node a: %d %q; node b asked about him %d times", code, body, sars(apiB, "bob", "team-a"))
	}
	// Claiming to be a peer does not skip the check.
	for _, token := range []string{"", "bob-token"} {
		code, body := getAs(t, b, path, token, route.ForwardedHeader, "node-a")
		if want := map[string]int{"": 401, "bob-token": 403}[token]; code != want {
			t.Errorf("forwarded-looking request to node b with token %q: %d %q, want %d", token, code, body, want)
		}
	}
}
