package route

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type locator struct {
	pods  []PodLocation
	err   error
	peers map[string]string
}

func (l locator) LocatePod(_ context.Context, namespace, name string) ([]PodLocation, error) {
	var out []PodLocation
	for _, p := range l.pods {
		if p.Name == name && (namespace == "" || p.Namespace == namespace) {
			out = append(out, p)
		}
	}
	return out, l.err
}

func (l locator) PeerAddr(_ context.Context, node string) (string, error) {
	if a, ok := l.peers[node]; ok {
		return a, nil
	}
	return "", errors.New("no exporter pod on " + node)
}

// peer is the exporter of another node: it answers with what it got.
func peer(t *testing.T) (*httptest.Server, *http.Header) {
	t.Helper()
	var got http.Header
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "dump of "+r.URL.RequestURI())
	}))
	t.Cleanup(s.Close)
	return s, &got
}

func TestRoute(t *testing.T) {
	remote, got := peer(t)
	addr := strings.TrimPrefix(remote.URL, "http://")
	loc := locator{
		pods: []PodLocation{
			{Namespace: "shop", Name: "web-0", Node: "node-2"},
			{Namespace: "shop", Name: "local-0", Node: "node-1"},
			{Namespace: "shop", Name: "twin", Node: "node-2"},
			{Namespace: "bank", Name: "twin", Node: "node-3"},
			{Namespace: "shop", Name: "lost-0", Node: "node-9"},
		},
		peers: map[string]string{"node-2": addr},
	}
	f := &Forwarder{Locator: loc, Node: "node-1", Scheme: "http", Client: remote.Client(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	for _, c := range []struct {
		name, namespace, pod string
		header               map[string]string
		routed               bool
		code                 int
		body                 string
	}{
		{name: "pod on another node is forwarded with the caller's credentials", namespace: "shop", pod: "web-0",
			header: map[string]string{"Authorization": "Bearer abc", "Accept": "application/json"},
			routed: true, code: 200, body: "dump of /dump?namespace=shop&pod=web-0"},
		{name: "pod here is answered here", namespace: "shop", pod: "local-0"},
		{name: "unknown pod is answered here", namespace: "shop", pod: "nope"},
		{name: "a forwarded request is never forwarded again", namespace: "shop", pod: "web-0",
			header: map[string]string{ForwardedHeader: "node-3"}},
		{name: "a name in several namespaces needs namespace=", pod: "twin", routed: true, code: 400, body: "bank, shop"},
		{name: "no exporter on the pod's node", namespace: "shop", pod: "lost-0", routed: true, code: 502, body: "node-9"},
	} {
		t.Run(c.name, func(t *testing.T) {
			*got = nil
			req := httptest.NewRequest(http.MethodGet, "/dump?namespace="+c.namespace+"&pod="+c.pod, nil)
			if c.namespace == "" {
				req = httptest.NewRequest(http.MethodGet, "/dump?pod="+c.pod, nil)
			}
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			w := httptest.NewRecorder()
			routed := f.Route(w, req, c.namespace, c.pod)
			if routed != c.routed {
				t.Fatalf("routed %v, want %v (%d %s)", routed, c.routed, w.Code, w.Body)
			}
			if !routed {
				return
			}
			if w.Code != c.code || !strings.Contains(w.Body.String(), c.body) {
				t.Errorf("got %d %q, want %d with %q", w.Code, w.Body, c.code, c.body)
			}
			if c.code != 200 {
				return
			}
			if h := *got; h.Get("Authorization") != "Bearer abc" || h.Get(ForwardedHeader) != "node-1" || h.Get("Accept") != "application/json" {
				t.Errorf("the peer got headers %v", h)
			}
			if w.Header().Get("X-Flightrec-Node") != "node-2" {
				t.Errorf("X-Flightrec-Node = %q", w.Header().Get("X-Flightrec-Node"))
			}
		})
	}
}

func TestRouteWithoutTheAPI(t *testing.T) {
	f := &Forwarder{Locator: locator{err: errors.New("connection refused")}, Node: "node-1", Scheme: "http",
		Client: http.DefaultClient, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	w := httptest.NewRecorder()
	if !f.Route(w, httptest.NewRequest(http.MethodGet, "/dump?namespace=shop&pod=x", nil), "shop", "x") {
		t.Fatal("not answered")
	}
	if w.Code != http.StatusBadGateway || !strings.Contains(w.Body.String(), "connection refused") {
		t.Errorf("got %d %q", w.Code, w.Body)
	}
}
