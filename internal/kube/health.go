package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	"k8s.io/klog/v2"
)

// health tracks whether the informer reaches the API server, and logs each
// change of state once: a retry loop against an unreachable server logs
// nothing more.
type health struct {
	log *slog.Logger

	mu       sync.Mutex
	failing  bool
	since    time.Time
	failures uint64 // failed attempts, for tests
}

// observe records the outcome of a list or watch made with ctx.
func (h *health) observe(ctx context.Context, err error) {
	switch {
	case err == nil:
		h.ok()
	case ctx.Err() != nil:
		// Stopping, not an outage.
	case isOutage(err):
		h.fail(err)
	}
}

func (h *health) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.failures++
	if h.failing {
		return
	}
	h.failing = true
	h.since = time.Now()
	h.log.Warn("Kubernetes API server unreachable; recording goes on, pod labels fill in when it answers", "err", err)
}

func (h *health) ok() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.failing {
		return
	}
	h.failing = false
	h.log.Info("Kubernetes API server reachable again", "down_for", time.Since(h.since).Round(time.Millisecond))
}

func (h *health) isFailing() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failing
}

func (h *health) failureCount() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.failures
}

// isOutage tells whether err means the API server cannot serve the pods of
// this node: not reached, timed out, failing (5xx) or refusing us (401,
// 403). Answers that are part of normal operation are not: an expired
// resource version, throttling, or a server that does not know streaming
// lists (400/422, after which client-go falls back to a plain list).
func isOutage(err error) bool {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		return true
	}
	if apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || apierrors.IsTooManyRequests(err) ||
		apierrors.HasStatusCause(err, metav1.CauseTypeResourceVersionTooLarge) {
		return false
	}
	code := st.Status().Code
	return code >= 500 || code == 401 || code == 403
}

// listWatch lists and watches the pods of this node, with every request
// bounded by the request timeout and its outcome fed to c.health.
func (c *Client) listWatch() cache.ListerWatcher {
	pods := c.cs.CoreV1().Pods(metav1.NamespaceAll)
	selector := fields.OneTermEqualSelector("spec.nodeName", c.node).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = selector
			rctx, cancel := context.WithTimeout(ctx, c.timeout)
			defer cancel()
			list, err := pods.List(rctx, opts)
			c.health.observe(ctx, err)
			if err != nil {
				return nil, fmt.Errorf("list pods of node %s: %w", c.node, err)
			}
			return list, nil
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = selector
			w, err := c.startWatch(ctx, func(ctx context.Context) (watch.Interface, error) {
				return pods.Watch(ctx, opts)
			})
			c.health.observe(ctx, err)
			if err != nil {
				if utilnet.IsConnectionRefused(err) {
					// The reflector retries a refused streaming list after a
					// sleep that ignores ctx (up to 30s). Without the errno it
					// returns instead and retries with a backoff that ends with
					// ctx, so Start's goroutines stop promptly.
					return nil, fmt.Errorf("watch pods of node %s: %s", c.node, err.Error())
				}
				return nil, fmt.Errorf("watch pods of node %s: %w", c.node, err)
			}
			return w, nil
		},
	}
	// A fake clientset in tests cannot stream lists; a real one can.
	return cache.ToListWatcherWithWatchListSemantics(lw, c.cs)
}

// startWatch starts a watch, giving up if the server has not answered
// within the request timeout. The watch itself may then run for as long as
// the server keeps it open; its context ends when it is stopped.
func (c *Client) startWatch(ctx context.Context, start func(context.Context) (watch.Interface, error)) (watch.Interface, error) {
	wctx, cancel := context.WithCancel(ctx)
	timer := time.AfterFunc(c.timeout, cancel)
	w, err := start(wctx)
	if !timer.Stop() {
		// Timed out, possibly just after the server answered.
		if w != nil {
			w.Stop()
		}
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("no answer within %v: %w", c.timeout, context.DeadlineExceeded)
	}
	if err != nil {
		cancel()
		return nil, err
	}
	return &cancelOnStop{Interface: w, cancel: cancel}, nil
}

// cancelOnStop releases the context of a watch when it is stopped.
type cancelOnStop struct {
	watch.Interface
	cancel context.CancelFunc
}

func (w *cancelOnStop) Stop() {
	w.Interface.Stop()
	w.cancel()
}

// watchError replaces client-go's default handler, which logs every failed
// list and watch through klog. Failures are already counted by listWatch;
// this one only keeps a trace at debug level.
func (c *Client) watchError(ctx context.Context, _ *cache.Reflector, err error) {
	if ctx.Err() != nil || errors.Is(err, io.EOF) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) {
		return
	}
	c.log.Debug("Pod informer retrying", "err", err)
}

var klogOnce sync.Once

// redirectKlog sends klog, which client-go uses beyond contextual logging,
// to log at debug level. Only the first call has an effect: klog is global.
func redirectKlog(log *slog.Logger) {
	klogOnce.Do(func() {
		klog.SetLogger(clientGoLogger(log))
	})
}

// clientGoLogger returns a logr.Logger writing to log at debug level. It
// drops messages above verbosity 2, which client-go emits per request.
func clientGoLogger(log *slog.Logger) logr.Logger {
	return logr.FromSlogHandler(debugHandler{h: log.With("source", "client-go").Handler()})
}

// debugHandler demotes every record to debug level.
type debugHandler struct{ h slog.Handler }

// maxVerbosity is the most verbose logr level passed on (logr V(n) arrives
// as slog level -n).
const maxVerbosity = 2

func (d debugHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= -maxVerbosity && d.h.Enabled(ctx, slog.LevelDebug)
}

func (d debugHandler) Handle(ctx context.Context, r slog.Record) error {
	// logr passes errors on without asking Enabled.
	if !d.h.Enabled(ctx, slog.LevelDebug) {
		return nil
	}
	r.Level = slog.LevelDebug
	return d.h.Handle(ctx, r)
}

func (d debugHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return debugHandler{h: d.h.WithAttrs(attrs)}
}

func (d debugHandler) WithGroup(name string) slog.Handler {
	return debugHandler{h: d.h.WithGroup(name)}
}
