// Package route sends a pod dump to the exporter of the node that runs the
// pod. An alert's link names a pod, not a node: any exporter can take the
// request, and forwards it once — a forwarded request is never forwarded
// again, so loops are impossible.
package route

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"
)

// ForwardedHeader marks a request one exporter sent to another; its value
// is the sending node.
const ForwardedHeader = "X-Flightrec-Forwarded-From"

// PodLocation is where a pod runs.
type PodLocation struct {
	Namespace, Name, Node string
}

// Locator answers from the Kubernetes API.
type Locator interface {
	// LocatePod finds pods named name in namespace ("" = any namespace) on any node.
	LocatePod(ctx context.Context, namespace, name string) ([]PodLocation, error)
	// PeerAddr returns host:port of the exporter on node.
	PeerAddr(ctx context.Context, node string) (string, error)
}

// Forwarder proxies pod dumps to the node that runs the pod.
type Forwarder struct {
	Locator Locator
	Node    string       // this node
	Scheme  string       // "http" or "https", how peers are reached
	Client  *http.Client // with the TLS settings for peers
	Logger  *slog.Logger
}

// Route implements dump.Router.
func (f *Forwarder) Route(w http.ResponseWriter, r *http.Request, namespace, pod string) bool {
	if from := r.Header.Get(ForwardedHeader); from != "" {
		return false // already forwarded once: answer here, whatever the answer
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	pods, err := f.Locator.LocatePod(ctx, namespace, pod)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s is not on node %s, and the Kubernetes API could not say where it is: %v", pod, f.Node, err), http.StatusBadGateway)
		return true
	}
	nodes := map[string]PodLocation{}
	namespaces := map[string]bool{}
	for _, p := range pods {
		namespaces[p.Namespace] = true
		if p.Node != "" && p.Node != f.Node {
			nodes[p.Node] = p
		}
	}
	if err := Ambiguous(pod, namespaces); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return true
	}
	if len(nodes) == 0 {
		return false
	}
	var target PodLocation
	for _, p := range nodes {
		target = p
	}
	addr, err := f.Locator.PeerAddr(ctx, target.Node)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s runs on node %s, but its flightrec exporter cannot be found: %v",
			target.Namespace, target.Name, target.Node, err), http.StatusBadGateway)
		return true
	}
	f.forward(w, r, addr, target)
	return true
}

// Ambiguous is the error for a pod name given without a namespace that
// exists in several namespaces; nil when namespaces has at most one.
func Ambiguous(pod string, namespaces map[string]bool) error {
	if len(namespaces) < 2 {
		return nil
	}
	names := make([]string, 0, len(namespaces))
	for n := range namespaces {
		names = append(names, n)
	}
	sort.Strings(names)
	return fmt.Errorf("pod %q exists in several namespaces (%s): add namespace=", pod, strings.Join(names, ", "))
}

func (f *Forwarder) forward(w http.ResponseWriter, r *http.Request, addr string, target PodLocation) {
	url := fmt.Sprintf("%s://%s%s", f.Scheme, addr, r.URL.RequestURI())
	req, err := http.NewRequestWithContext(r.Context(), http.MethodGet, url, nil)
	if err != nil {
		http.Error(w, "forwarding: "+err.Error(), http.StatusInternalServerError)
		return
	}
	// The same web config protects every exporter: pass the credentials on.
	if auth := r.Header.Get("Authorization"); auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", r.Header.Get("Accept"))
	req.Header.Set(ForwardedHeader, f.Node)
	resp, err := f.Client.Do(req)
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s runs on node %s; its exporter at %s did not answer: %v",
			target.Namespace, target.Name, target.Node, addr, err), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range []string{"Content-Type", "Content-Length"} {
		if v := resp.Header.Get(h); v != "" {
			w.Header().Set(h, v)
		}
	}
	w.Header().Set("X-Flightrec-Node", target.Node)
	w.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(w, resp.Body); err != nil {
		f.Logger.Debug("forwarding dump", "node", target.Node, "err", err)
	}
}
