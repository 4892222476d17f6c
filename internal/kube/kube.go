// Package kube tells which Kubernetes pod and container a cgroup belongs to.
//
// A Client watches the pods of one node through a shared informer (field
// selector spec.nodeName=<node>) and indexes them by container runtime id
// and pod UID, so that the recorder can label a cgroup with namespace, pod
// and container in O(1), without ever waiting for the API server. When the
// API server is unreachable or slow nothing blocks: lookups simply miss
// until the informer has listed the pods, and the outage is logged once when
// it starts and once when it ends.
//
// client-go logs through klog. New redirects klog, once per process, to the
// first Client's slog logger at debug level (and drops client-go's most
// verbose messages), so that retries against an unreachable API server do
// not flood the log.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
)

// DefaultRequestTimeout bounds a request to the API server when
// Config.RequestTimeout is zero.
const DefaultRequestTimeout = 30 * time.Second

// Config for the pod watcher.
type Config struct {
	// Kubeconfig is the path to a kubeconfig file; "" means the in-cluster
	// configuration (service account token, KUBERNETES_SERVICE_HOST/PORT).
	Kubeconfig string
	// NodeName is required: only this node's pods are watched.
	NodeName string
	// Logger receives the few messages of the watcher; nil means
	// slog.Default().
	Logger *slog.Logger
	// RequestTimeout bounds a list, the start of a watch, and LookupPod and
	// Peers calls whose context has no deadline. Zero means
	// DefaultRequestTimeout.
	RequestTimeout time.Duration
}

// InCluster reports whether the process runs in a pod
// (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT set).
func InCluster() bool {
	return os.Getenv("KUBERNETES_SERVICE_HOST") != "" && os.Getenv("KUBERNETES_SERVICE_PORT") != ""
}

// Client resolves container runtime ids and pod UIDs of one node to pods
// and containers. Its methods are safe for concurrent use.
type Client struct {
	node    string
	log     *slog.Logger
	timeout time.Duration
	cs      kubernetes.Interface

	informer cache.SharedIndexInformer
	health   *health
	retired  *retired

	startOnce sync.Once
	done      chan struct{}
}

// New builds the client without contacting the API server: an unreachable
// API server at start does not make New fail. It fails on a missing node
// name or an unusable configuration (no kubeconfig file, not in a cluster).
func New(cfg Config) (*Client, error) {
	if cfg.NodeName == "" {
		return nil, errors.New("kube: node name is required")
	}
	var (
		rc  *rest.Config
		err error
	)
	if cfg.Kubeconfig == "" {
		rc, err = rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("kube: in-cluster config: %w", err)
		}
	} else {
		rc, err = clientcmd.BuildConfigFromFlags("", cfg.Kubeconfig)
		if err != nil {
			return nil, fmt.Errorf("kube: load kubeconfig %q: %w", cfg.Kubeconfig, err)
		}
	}
	rc.UserAgent = "flightrec_exporter"
	// Deprecation warnings from the server would go to klog on every request.
	rc.WarningHandler = rest.NoWarnings{}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kube: create clientset for %s: %w", rc.Host, err)
	}
	return newClient(cs, cfg), nil
}

// newClient builds a Client on a given clientset (a fake one in tests).
func newClient(cs kubernetes.Interface, cfg Config) *Client {
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "kube", "node", cfg.NodeName)
	redirectKlog(log)
	timeout := cfg.RequestTimeout
	if timeout <= 0 {
		timeout = DefaultRequestTimeout
	}
	c := &Client{
		node:    cfg.NodeName,
		log:     log,
		timeout: timeout,
		cs:      cs,
		health:  &health{log: log},
		retired: newRetired(),
		done:    make(chan struct{}),
	}
	c.informer = cache.NewSharedIndexInformerWithOptions(c.listWatch(), &corev1.Pod{}, cache.SharedIndexInformerOptions{
		Indexers: cache.Indexers{
			indexContainerID: indexByContainerID,
			indexPodUID:      indexByPodUID,
		},
		ObjectDescription: "pods of node " + cfg.NodeName,
	})
	// Neither can fail before the informer runs.
	_ = c.informer.SetTransform(slimPod)
	_ = c.informer.SetWatchErrorHandlerWithContext(c.watchError)
	_, _ = c.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: c.podUpdated,
		DeleteFunc: c.podDeleted,
	})
	return c
}

// Start runs the node-scoped pod informer until ctx ends. It returns
// immediately; calls after the first do nothing. Done tells when the
// informer has stopped after ctx ended.
func (c *Client) Start(ctx context.Context) {
	c.startOnce.Do(func() {
		// client-go's contextual logging goes to our logger, demoted to debug.
		runCtx := klog.NewContext(ctx, clientGoLogger(c.log))
		var wg sync.WaitGroup
		wg.Go(func() { c.informer.RunWithContext(runCtx) })
		wg.Go(func() {
			select {
			case <-c.informer.HasSyncedChecker().Done():
				c.log.Info("Kubernetes pods of this node listed", "pods", len(c.informer.GetStore().ListKeys()))
			case <-ctx.Done():
			}
		})
		go func() {
			wg.Wait()
			close(c.done)
		}()
	})
}

// Done is closed when the informer started by Start has stopped, after the
// context given to Start ended (never if Start was not called).
func (c *Client) Done() <-chan struct{} {
	return c.done
}

// Synced reports whether the informer has listed pods at least once.
func (c *Client) Synced() bool {
	return c.informer.HasSynced()
}

// APIReachable reports whether the last list or watch of the informer
// reached the API server; false from a failed attempt until the next
// successful one. It is true before the first attempt.
func (c *Client) APIReachable() bool {
	return !c.health.isFailing()
}

// Clientset returns the client's connection to the API server, for other
// requests made with the same configuration (TokenReviews, ...).
func (c *Client) Clientset() kubernetes.Interface {
	return c.cs
}

// NodeName returns the configured node.
func (c *Client) NodeName() string {
	return c.node
}

// requestContext bounds ctx by the request timeout unless it already has a
// deadline.
func (c *Client) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, c.timeout)
}
