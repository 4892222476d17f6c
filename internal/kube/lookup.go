package kube

import (
	"context"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
)

// LookupPod asks the API server directly (not the informer) for pods named
// name in namespace ("" = any namespace), with a list filtered by the field
// selector metadata.name=name. It finds pods on other nodes too. Without a
// deadline on ctx, the request timeout applies.
func (c *Client) LookupPod(ctx context.Context, namespace, name string) ([]PodRef, error) {
	if name == "" {
		return nil, fmt.Errorf("kube: look up pod in namespace %q: empty name", namespace)
	}
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	list, err := c.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(),
	})
	if err != nil {
		return nil, fmt.Errorf("kube: look up pod %s: %w", qualified(namespace, name), err)
	}
	refs := make([]PodRef, 0, len(list.Items))
	for i := range list.Items {
		refs = append(refs, podRef(&list.Items[i]))
	}
	sortPodRefs(refs)
	return refs, nil
}

// Peers lists the running pods matching labelSelector in namespace (the
// exporter's own DaemonSet) as node name -> address: the pod IP, with
// ":port" when a container declares a port named "http". Pods being deleted
// or without an IP are left out; of two pods on one node (during a rollout)
// the newer wins. Without a deadline on ctx, the request timeout applies.
func (c *Client) Peers(ctx context.Context, namespace, labelSelector string) (map[string]string, error) {
	ctx, cancel := c.requestContext(ctx)
	defer cancel()
	list, err := c.cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: labelSelector})
	if err != nil {
		return nil, fmt.Errorf("kube: list peers %q in namespace %q: %w", labelSelector, namespace, err)
	}
	peers := map[string]string{}
	newest := map[string]metav1.Time{}
	for i := range list.Items {
		p := &list.Items[i]
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil || p.Status.PodIP == "" || p.Spec.NodeName == "" {
			continue
		}
		if t, ok := newest[p.Spec.NodeName]; ok && !t.Before(&p.CreationTimestamp) {
			continue
		}
		newest[p.Spec.NodeName] = p.CreationTimestamp
		peers[p.Spec.NodeName] = p.Status.PodIP
		for _, c := range p.Spec.Containers {
			for _, port := range c.Ports {
				if port.Name == "http" {
					peers[p.Spec.NodeName] = net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))
				}
			}
		}
	}
	return peers, nil
}

func qualified(namespace, name string) string {
	if namespace == "" {
		return "*/" + name
	}
	return namespace + "/" + name
}
