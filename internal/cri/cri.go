// Package cri names containers from the node's container runtime over the
// Container Runtime Interface: the runtime knows a container's pod and name
// the moment it creates it, before kubelet reports the pod's status to the
// API server, so a container that crashes within a second of its start is
// named right, and the node's pods are named while the API server is down.
package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/flightrec/flightrec_exporter/internal/containers"
)

// The labels kubelet gives every sandbox and container it creates.
const (
	labelNamespace = "io.kubernetes.pod.namespace"
	labelPod       = "io.kubernetes.pod.name"
	labelPodUID    = "io.kubernetes.pod.uid"
	labelContainer = "io.kubernetes.container.name"
)

// DefaultEndpoints are the sockets of containerd and CRI-O, as a node has
// them and as the chart mounts the host's (below /host).
var DefaultEndpoints = []string{
	"/run/containerd/containerd.sock", "/run/crio/crio.sock",
	"/host/run/containerd/containerd.sock", "/host/run/crio/crio.sock",
}

// Find returns the first of endpoints whose socket exists, or "".
func Find(endpoints []string) string {
	for _, e := range endpoints {
		if fi, err := os.Stat(strings.TrimPrefix(e, "unix://")); err == nil && fi.Mode()&os.ModeSocket != 0 {
			return e
		}
	}
	return ""
}

// maxRemembered bounds the containers remembered after the runtime has
// forgotten them (their rings may still be frozen, their series in grace).
const maxRemembered = 4096

// Client is a containers.Directory over a CRI runtime.
type Client struct {
	conn    *grpc.ClientConn
	rt      runtimeapi.RuntimeServiceClient
	timeout time.Duration
	// MinInterval is the least time between two listings made for names
	// not known yet.
	MinInterval time.Duration

	refreshMu sync.Mutex // one listing at a time
	mu        sync.Mutex
	asked     map[string]time.Time // ids not known when first asked for, and when
	byID      map[string]container // containers and sandboxes, by runtime id
	order     []string             // ids in the order they were learnt, for the bound
	pods      map[string]pod       // by pod UID, from the last listing
	current   []containers.Labels  // the containers of the last listing
	listedAt  time.Time
	err       error
}

type container struct {
	labels  containers.Labels
	attempt int
	podUID  string
}

type pod struct{ namespace, name string }

// Dial connects to the runtime at endpoint (a socket path, or unix://path)
// and lists its containers once.
func Dial(ctx context.Context, endpoint string) (*Client, error) {
	target := "unix://" + strings.TrimPrefix(endpoint, "unix://")
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	c := &Client{conn: conn, rt: runtimeapi.NewRuntimeServiceClient(conn), timeout: 5 * time.Second,
		MinInterval: 250 * time.Millisecond, byID: map[string]container{}, pods: map[string]pod{},
		asked: map[string]time.Time{}}
	if err := c.Refresh(ctx); err != nil {
		conn.Close()
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return c, nil
}

// Close ends the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Refresh lists the runtime's sandboxes and containers.
func (c *Client) Refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	sandboxes, err := c.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	ctrs, err := c.rt.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return fmt.Errorf("listing containers: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.listedAt = time.Now()
	c.pods = map[string]pod{}
	c.current = c.current[:0]
	for _, s := range sandboxes.GetItems() {
		m := s.GetMetadata()
		ns, name, uid := first(s.GetLabels()[labelNamespace], m.GetNamespace()), first(s.GetLabels()[labelPod], m.GetName()),
			first(s.GetLabels()[labelPodUID], m.GetUid())
		if ns == "" || name == "" {
			continue // not made by kubelet
		}
		c.pods[uid] = pod{ns, name}
		c.learn(s.GetId(), container{labels: containers.Labels{Namespace: ns, Pod: name, Container: containers.SandboxContainer},
			attempt: int(m.GetAttempt()), podUID: uid})
	}
	for _, k := range ctrs.GetContainers() {
		l := k.GetLabels()
		ns, name, ctr := l[labelNamespace], l[labelPod], first(l[labelContainer], k.GetMetadata().GetName())
		if ns == "" || name == "" || ctr == "" {
			continue
		}
		labels := containers.Labels{Namespace: ns, Pod: name, Container: ctr}
		c.learn(k.GetId(), container{labels: labels, attempt: int(k.GetMetadata().GetAttempt()), podUID: l[labelPodUID]})
		c.current = append(c.current, labels)
	}
	return nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// learn remembers a container (c.mu held), forgetting the oldest beyond
// maxRemembered.
func (c *Client) learn(id string, k container) {
	if _, ok := c.byID[id]; !ok {
		c.order = append(c.order, id)
		if len(c.order) > maxRemembered {
			delete(c.byID, c.order[0])
			c.order = c.order[1:]
		}
	}
	c.byID[id] = k
}

// lookup finds id. An id not known yet is listed for: the runtime records
// a container before its cgroup exists, so one listing made after the id
// was first asked for settles it. Listings are at least MinInterval apart;
// a miss within that time waits for the next one rather than answering
// from a listing older than the container.
func (c *Client) lookup(id string) (container, bool) {
	if id == "" {
		return container{}, false
	}
	c.mu.Lock()
	k, ok := c.byID[id]
	if ok {
		c.mu.Unlock()
		return k, true
	}
	asked, seen := c.asked[id]
	if !seen {
		if len(c.asked) >= maxRemembered {
			c.asked = map[string]time.Time{}
		}
		asked = time.Now()
		c.asked[id] = asked
	}
	if c.listedAt.After(asked) {
		c.mu.Unlock()
		return container{}, false // not the runtime's, or long gone
	}
	c.mu.Unlock()

	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	listedAt := c.listedAt
	c.mu.Unlock()
	if !listedAt.After(asked) {
		if wait := c.MinInterval - time.Since(listedAt); wait > 0 {
			time.Sleep(wait)
		}
		err := c.Refresh(context.Background())
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	k, ok = c.byID[id]
	return k, ok
}

// Container names the container or sandbox with runtime id.
func (c *Client) Container(id string) (containers.Labels, bool) {
	k, ok := c.lookup(id)
	return k.labels, ok
}

// Restarts is the container's attempt: kubelet's restart count of it.
func (c *Client) Restarts(id string) (int, bool) {
	k, ok := c.lookup(id)
	return k.attempt, ok
}

// Pod names the pod with this UID, from the last listing.
func (c *Client) Pod(uid string) (namespace, name string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pods[uid]
	return p.namespace, p.name, ok
}

// Containers lists the containers of the last listing.
func (c *Client) Containers() []containers.Labels {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]containers.Labels(nil), c.current...)
}

// Err is the error of the last listing that failed since, if any.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// ErrNoRuntime means no CRI socket was found.
var ErrNoRuntime = errors.New("no CRI runtime socket found")
