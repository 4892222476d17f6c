package kubetest

import (
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// ExporterPod is a flightrec exporter's own DaemonSet pod on node, in
// namespace monitoring, labelled as the chart labels it, whose port named
// http is at addr: how exporters find each other to forward dumps.
func ExporterPod(node, addr string) *corev1.Pod {
	host, port, _ := net.SplitHostPort(addr)
	p := Pod("monitoring", "flightrec-"+node, testenv.RandomUID(), node, host, map[string]string{"exporter": testenv.RandomHex(32)})
	p.Labels = map[string]string{"app.kubernetes.io/name": "flightrec-exporter"}
	n, _ := strconv.Atoi(port)
	p.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: int32(n)}}
	return p
}
