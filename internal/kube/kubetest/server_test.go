package kubetest

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

const (
	idA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	idC = "cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
)

func clientFor(t *testing.T, s *Server) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig(t))
	if err != nil {
		t.Fatalf("load kubeconfig: %v", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatalf("clientset: %v", err)
	}
	return cs
}

func names(pods []corev1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	return out
}

func TestList(t *testing.T) {
	s := NewServer(t)
	s.AddPod(Pod("ns1", "a", "", "node1", "10.0.0.1", map[string]string{"app": idA}))
	b := Pod("ns2", "b", "", "node2", "10.0.0.2", map[string]string{"app": idB})
	b.Labels = map[string]string{"app": "flightrec", "tier": "x"}
	s.AddPod(b)
	s.AddPod(Pod("ns2", "a", "", "node2", "10.0.0.3", map[string]string{"app": idC}))
	cs := clientFor(t, s)
	ctx := context.Background()

	tests := []struct {
		name      string
		namespace string
		opts      metav1.ListOptions
		want      []string
	}{
		{"all", "", metav1.ListOptions{}, []string{"ns1/a", "ns2/a", "ns2/b"}},
		{"namespace", "ns2", metav1.ListOptions{}, []string{"ns2/a", "ns2/b"}},
		{"node", "", metav1.ListOptions{FieldSelector: "spec.nodeName=node2"}, []string{"ns2/a", "ns2/b"}},
		{"name", "", metav1.ListOptions{FieldSelector: "metadata.name=a"}, []string{"ns1/a", "ns2/a"}},
		{"name in namespace", "ns1", metav1.ListOptions{FieldSelector: "metadata.name=a"}, []string{"ns1/a"}},
		{"two fields", "", metav1.ListOptions{FieldSelector: "metadata.name=a,spec.nodeName=node1"}, []string{"ns1/a"}},
		{"label", "", metav1.ListOptions{LabelSelector: "app=flightrec"}, []string{"ns2/b"}},
		{"labels none", "ns1", metav1.ListOptions{LabelSelector: "app=flightrec,tier=x"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			list, err := cs.CoreV1().Pods(tt.namespace).List(ctx, tt.opts)
			if err != nil {
				t.Fatalf("list: %v", err)
			}
			if list.ResourceVersion == "" {
				t.Error("list without resourceVersion")
			}
			got := names(list.Items)
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}

	if _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.bogus=1"}); !apierrors.IsBadRequest(err) {
		t.Errorf("unknown field: err = %v, want BadRequest", err)
	}
}

func TestGet(t *testing.T) {
	s := NewServer(t)
	s.AddPod(Pod("ns1", "a", "uid-a", "node1", "10.0.0.1", map[string]string{"app": idA}))
	cs := clientFor(t, s)
	ctx := context.Background()
	p, err := cs.CoreV1().Pods("ns1").Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if p.UID != "uid-a" || p.Status.ContainerStatuses[0].ContainerID != "containerd://"+idA {
		t.Errorf("got uid %q, statuses %+v", p.UID, p.Status.ContainerStatuses)
	}
	if _, err := cs.CoreV1().Pods("ns1").Get(ctx, "nope", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("missing pod: err = %v, want NotFound", err)
	}

	for _, path := range []string{"/apis/apps/v1/deployments", "/api/v1/nodes", "/nope"} {
		resp, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		var st metav1.Status
		err = json.NewDecoder(resp.Body).Decode(&st)
		_ = resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusNotFound || st.Reason != metav1.StatusReasonNotFound {
			t.Errorf("GET %s: %d %+v %v, want 404 Status", path, resp.StatusCode, st, err)
		}
	}
}

// next returns the next event of w, failing after a deadline.
func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no watch event within 10s")
	}
	return watch.Event{}
}

func expect(t *testing.T, ev watch.Event, typ watch.EventType, name string) {
	t.Helper()
	if ev.Type != typ {
		t.Fatalf("event %s, want %s %s", ev.Type, typ, name)
	}
	p, ok := ev.Object.(*corev1.Pod)
	if !ok {
		t.Fatalf("event object %T", ev.Object)
	}
	if p.Name != name {
		t.Fatalf("event %s for %q, want %q", ev.Type, p.Name, name)
	}
}

func TestWatch(t *testing.T) {
	s := NewServer(t)
	cs := clientFor(t, s)
	ctx := context.Background()
	s.AddPod(Pod("ns", "before", "", "node1", "", nil))
	list, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node1"})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	w, err := cs.CoreV1().Pods("").Watch(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=node1", ResourceVersion: list.ResourceVersion})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()

	a := Pod("ns", "a", "", "node1", "10.0.0.1", map[string]string{"app": idA})
	s.AddPod(a)
	expect(t, next(t, w), watch.Added, "a")
	s.AddPod(Pod("ns", "elsewhere", "", "node2", "", nil)) // not seen
	a.Status.PodIP = "10.0.0.9"
	s.UpdatePod(a)
	ev := next(t, w)
	expect(t, ev, watch.Modified, "a")
	if ip := ev.Object.(*corev1.Pod).Status.PodIP; ip != "10.0.0.9" {
		t.Errorf("modified pod IP %q", ip)
	}
	// Moving out of the selector looks like a deletion, in like an addition.
	a.Spec.NodeName = "node2"
	s.UpdatePod(a)
	expect(t, next(t, w), watch.Deleted, "a")
	a.Spec.NodeName = "node1"
	s.UpdatePod(a)
	expect(t, next(t, w), watch.Added, "a")
	s.DeletePod("ns", "a")
	expect(t, next(t, w), watch.Deleted, "a")

	// The watch ends when the server closes.
	s.Close()
	select {
	case _, ok := <-w.ResultChan():
		for ok {
			_, ok = <-w.ResultChan()
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch still open 10s after Close")
	}
}

func TestStreamingList(t *testing.T) {
	s := NewServer(t)
	cs := clientFor(t, s)
	s.AddPod(Pod("ns", "a", "", "node1", "", nil))
	s.AddPod(Pod("ns", "b", "", "node1", "", nil))
	w, err := cs.CoreV1().Pods("ns").Watch(context.Background(), metav1.ListOptions{
		SendInitialEvents:    new(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		AllowWatchBookmarks:  true,
	})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	defer w.Stop()
	expect(t, next(t, w), watch.Added, "a")
	expect(t, next(t, w), watch.Added, "b")
	ev := next(t, w)
	if ev.Type != watch.Bookmark {
		t.Fatalf("event %s, want BOOKMARK", ev.Type)
	}
	if m := ev.Object.(*corev1.Pod).ObjectMeta; m.Annotations[metav1.InitialEventsAnnotationKey] != "true" || m.ResourceVersion == "" {
		t.Errorf("bookmark metadata %+v", m)
	}
	s.DeletePod("ns", "a")
	expect(t, next(t, w), watch.Deleted, "a")
}

func TestWatchExpired(t *testing.T) {
	old := NewServer(t)
	old.AddPod(Pod("ns", "a", "", "node1", "", nil))
	cs := clientFor(t, old)
	list, err := cs.CoreV1().Pods("").List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	addr := old.Addr()
	old.Close()
	// A new server at the same address does not know the old history.
	NewServerAt(t, addr)
	_, err = cs.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if !apierrors.IsResourceExpired(err) && !apierrors.IsGone(err) {
		t.Errorf("watch from old resource version: err = %v, want Expired", err)
	}
}

func TestStreamingListsOff(t *testing.T) {
	s := NewServer(t)
	s.SetStreamingLists(false)
	cs := clientFor(t, s)
	_, err := cs.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{
		SendInitialEvents:    new(true),
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
	})
	if !apierrors.IsInvalid(err) {
		t.Errorf("streaming list: err = %v, want Invalid", err)
	}
	w, err := cs.CoreV1().Pods("").Watch(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatalf("plain watch: %v", err)
	}
	w.Stop()
}

func TestReviews(t *testing.T) {
	s := NewServer(t)
	s.AddToken("tok-alice", Identity{User: "alice", UID: "u1", Groups: []string{"team-a"}})
	s.Allow(Rule{Subject: "team-a", Namespace: "a", Verb: "get", Resource: "pods", Subresource: "log"})
	s.Allow(Rule{Subject: "root", Verb: "get", Resource: "pods", Subresource: "log"})
	cs := clientFor(t, s)
	ctx := context.Background()

	tr, err := cs.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: "tok-alice"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !tr.Status.Authenticated || tr.Status.User.Username != "alice" || !slices.Contains(tr.Status.User.Groups, "team-a") {
		t.Errorf("alice's token: %+v", tr.Status)
	}
	tr, err = cs.AuthenticationV1().TokenReviews().Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: "forged"}}, metav1.CreateOptions{})
	if err != nil || tr.Status.Authenticated {
		t.Errorf("unknown token: %+v %v", tr.Status, err)
	}
	for _, c := range []struct {
		user      string
		groups    []string
		namespace string
		sub       string
		want      bool
	}{
		{"alice", []string{"team-a"}, "a", "log", true},
		{"alice", []string{"team-a"}, "b", "log", false},
		{"alice", []string{"team-a"}, "", "log", false}, // a namespaced grant is not cluster-wide
		{"alice", []string{"team-a"}, "a", "exec", false},
		{"bob", nil, "a", "log", false},
		{"root", nil, "b", "log", true}, // cluster-wide
		{"root", nil, "", "log", true},
	} {
		sar, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User: c.user, Groups: c.groups,
			ResourceAttributes: &authzv1.ResourceAttributes{Namespace: c.namespace, Verb: "get", Resource: "pods", Subresource: c.sub},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if sar.Status.Allowed != c.want {
			t.Errorf("%s in %q pods/%s: allowed %v, want %v", c.user, c.namespace, c.sub, sar.Status.Allowed, c.want)
		}
	}
	revs := s.Reviews()
	if len(revs) != 9 || revs[0] != (Review{Kind: "TokenReview", User: "alice", Allowed: true}) ||
		revs[2] != (Review{Kind: "SubjectAccessReview", User: "alice", Namespace: "a", Allowed: true}) {
		t.Errorf("reviews: %+v", revs)
	}
}
