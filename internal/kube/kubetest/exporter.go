package kubetest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// ExporterPod is a flightrec exporter's own DaemonSet pod on node, in
// namespace monitoring, labelled as the chart labels it, whose port named
// http is at addr: how exporters find each other to forward dumps.
func ExporterPod(node, addr string) *corev1.Pod {
	host, port, _ := net.SplitHostPort(addr)
	p := Pod("monitoring", "flightrec-"+node, randomUID(), node, host, map[string]string{"exporter": randomHex(32)})
	p.Labels = map[string]string{"app.kubernetes.io/name": "flightrec-exporter"}
	n, _ := strconv.Atoi(port)
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(n)}}
	return p
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func randomUID() string {
	h := randomHex(16)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
