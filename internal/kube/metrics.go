package kube

import "github.com/prometheus/client_golang/prometheus"

var (
	apiReachableDesc = prometheus.NewDesc("flightrec_kubernetes_api_reachable",
		"1 when the last list or watch of this node's pods reached the Kubernetes API server; 0 from a failed attempt until the next success (pod labels may then be stale or missing).",
		nil, nil)
	podsSyncedDesc = prometheus.NewDesc("flightrec_kubernetes_pods_synced",
		"1 once this node's pods have been listed from the Kubernetes API server at least once.",
		nil, nil)
)

// Describe and Collect make the client a prometheus.Collector of its own
// health: whether the API server is reachable and the pods were listed.
func (c *Client) Describe(ch chan<- *prometheus.Desc) {
	ch <- apiReachableDesc
	ch <- podsSyncedDesc
}

// Collect reports the client's health.
func (c *Client) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(apiReachableDesc, prometheus.GaugeValue, boolValue(c.APIReachable()))
	ch <- prometheus.MustNewConstMetric(podsSyncedDesc, prometheus.GaugeValue, boolValue(c.Synced()))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
