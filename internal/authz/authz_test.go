package authz

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func setup(t *testing.T, size int) (*Authorizer, *kubetest.Server, *clock) {
	t.Helper()
	s := kubetest.NewServer(t)
	s.AddToken("tok-alice", kubetest.Identity{User: "alice", Groups: []string{"team-a"}})
	s.AddToken("tok-bob", kubetest.Identity{User: "bob"})
	for _, ns := range []string{"a", "c", "d"} {
		s.Allow(kubetest.Rule{Subject: "team-a", Namespace: ns, Verb: "get", Resource: "pods", Subresource: "log"})
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Kubeconfig(t))
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Unix(1_800_000_000, 0)}
	a, err := New(Config{Client: kubernetes.NewForConfigOrDie(cfg), Verb: "get", Resource: "pods", Subresource: "log",
		AllowTTL: time.Minute, DenyTTL: 10 * time.Second, CacheSize: size, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return a, s, clk
}

func request(auth string) *http.Request {
	r, _ := http.NewRequest(http.MethodGet, "http://x/dump", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	return r
}

func TestAuthenticate(t *testing.T) {
	a, s, clk := setup(t, 16)
	ctx := context.Background()
	for _, auth := range []string{"", "Basic c3JlOnMzY3JldA==", "Bearer "} {
		if _, err := a.Authenticate(ctx, request(auth)); !errors.Is(err, ErrNoToken) {
			t.Errorf("Authorization %q: %v, want ErrNoToken", auth, err)
		}
	}
	if len(s.Reviews()) != 0 {
		t.Fatalf("asked the API without a token: %+v", s.Reviews())
	}
	u, err := a.Authenticate(ctx, request("Bearer tok-alice"))
	if err != nil || u.Name != "alice" {
		t.Fatalf("alice: %+v %v", u, err)
	}
	if u, err := a.Authenticate(ctx, request("bearer tok-alice")); err != nil || u.Name != "alice" {
		t.Fatalf("alice again: %+v %v", u, err)
	}
	if n := len(s.Reviews()); n != 1 {
		t.Errorf("%d TokenReviews for one token within the TTL, want 1", n)
	}
	for range 2 {
		if _, err := a.Authenticate(ctx, request("Bearer forged")); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("forged token: %v, want ErrUnauthenticated", err)
		}
	}
	if n := len(s.Reviews()); n != 2 {
		t.Errorf("%d TokenReviews after a forged token twice, want 2 (the rejection is cached)", n)
	}
	clk.Add(11 * time.Second) // past the deny TTL, within the allow TTL
	_, _ = a.Authenticate(ctx, request("Bearer forged"))
	_, _ = a.Authenticate(ctx, request("Bearer tok-alice"))
	if n := len(s.Reviews()); n != 3 {
		t.Errorf("%d TokenReviews, want 3: the rejection expired, alice did not", n)
	}
	clk.Add(time.Minute)
	_, _ = a.Authenticate(ctx, request("Bearer tok-alice"))
	if n := len(s.Reviews()); n != 4 {
		t.Errorf("%d TokenReviews, want 4: alice expired", n)
	}
}

func TestAllowed(t *testing.T) {
	a, s, clk := setup(t, 16)
	ctx := context.Background()
	alice, err := a.Authenticate(ctx, request("Bearer tok-alice"))
	if err != nil {
		t.Fatal(err)
	}
	bob, err := a.Authenticate(ctx, request("Bearer tok-bob"))
	if err != nil {
		t.Fatal(err)
	}
	base := len(s.Reviews())
	for range 2 {
		for _, c := range []struct {
			u         *User
			namespace string
			want      bool
		}{{alice, "a", true}, {alice, "b", false}, {alice, "", false}, {bob, "a", false}} {
			got, err := a.Allowed(ctx, c.u, c.namespace)
			if err != nil || got != c.want {
				t.Errorf("%s in %q: %v %v, want %v", c.u.Name, c.namespace, got, err, c.want)
			}
		}
	}
	if n := len(s.Reviews()) - base; n != 4 {
		t.Errorf("%d SubjectAccessReviews for 4 questions asked twice, want 4", n)
	}
	clk.Add(11 * time.Second)
	_, _ = a.Allowed(ctx, alice, "a")
	_, _ = a.Allowed(ctx, alice, "b")
	if n := len(s.Reviews()) - base; n != 5 {
		t.Errorf("%d SubjectAccessReviews, want 5: the denial expired, the permission did not", n)
	}
	if a.Rule() != "get pods/log" {
		t.Errorf("Rule() = %q", a.Rule())
	}
}

func TestCacheIsBounded(t *testing.T) {
	a, s, _ := setup(t, 2)
	ctx := context.Background()
	alice, err := a.Authenticate(ctx, request("Bearer tok-alice"))
	if err != nil {
		t.Fatal(err)
	}
	base := len(s.Reviews())
	for _, ns := range []string{"a", "c", "a", "d", "c"} {
		if ok, err := a.Allowed(ctx, alice, ns); !ok || err != nil {
			t.Fatalf("%s: %v %v", ns, ok, err)
		}
	}
	// a, c asked; a cached; d evicts c (a was used later); c asked again.
	if n := len(s.Reviews()) - base; n != 4 {
		t.Errorf("%d SubjectAccessReviews, want 4", n)
	}
	if n := a.access.len(); n != 2 {
		t.Errorf("%d access decisions kept, want at most 2", n)
	}
}

func TestAPIDown(t *testing.T) {
	a, s, _ := setup(t, 16)
	ctx := context.Background()
	alice, err := a.Authenticate(ctx, request("Bearer tok-alice"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := a.Authenticate(ctx, request("Bearer tok-bob")); !errors.Is(err, ErrUnavailable) {
		t.Errorf("token with the API down: %v, want ErrUnavailable", err)
	}
	if _, err := a.Allowed(ctx, alice, "b"); !errors.Is(err, ErrUnavailable) {
		t.Errorf("access with the API down: %v, want ErrUnavailable", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("no client: no error")
	}
}
