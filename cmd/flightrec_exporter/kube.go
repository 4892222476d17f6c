package main

import (
	"context"
	"fmt"
	"net"

	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/kube"
	"github.com/flightrec/flightrec_exporter/internal/route"
)

// kubeDirectory names containers through the pod informer.
type kubeDirectory struct{ c *kube.Client }

func (d kubeDirectory) Container(id string) (containers.Labels, bool) {
	r, ok := d.c.Container(id)
	return containers.Labels{Namespace: r.Namespace, Pod: r.Pod, Container: r.Container}, ok
}

func (d kubeDirectory) Pod(uid string) (string, string, bool) {
	p, ok := d.c.Pod(uid)
	return p.Namespace, p.Name, ok
}

func (d kubeDirectory) Containers() []containers.Labels {
	refs := d.c.Containers()
	out := make([]containers.Labels, 0, len(refs))
	for _, r := range refs {
		out = append(out, containers.Labels{Namespace: r.Namespace, Pod: r.Pod, Container: r.Container})
	}
	return out
}

func (d kubeDirectory) Restarts(id string) (int, bool) {
	r, ok := d.c.Container(id)
	return int(r.RestartCount), ok
}

// kubeLocator finds pods on other nodes and the exporters there.
type kubeLocator struct {
	c                   *kube.Client
	namespace, selector string
	defaultPort         string
}

func (l kubeLocator) LocatePod(ctx context.Context, namespace, name string) ([]route.PodLocation, error) {
	pods, err := l.c.LookupPod(ctx, namespace, name)
	if err != nil {
		return nil, err
	}
	out := make([]route.PodLocation, 0, len(pods))
	for _, p := range pods {
		out = append(out, route.PodLocation{Namespace: p.Namespace, Name: p.Name, Node: p.Node})
	}
	return out, nil
}

func (l kubeLocator) PeerAddr(ctx context.Context, node string) (string, error) {
	if l.selector == "" {
		return "", fmt.Errorf("no --dump.peer-selector to find the exporters of other nodes")
	}
	peers, err := l.c.Peers(ctx, l.namespace, l.selector)
	if err != nil {
		return "", err
	}
	addr, ok := peers[node]
	if !ok {
		return "", fmt.Errorf("no running pod matching %q in namespace %q on node %s", l.selector, l.namespace, node)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, l.defaultPort)
	}
	return addr, nil
}
