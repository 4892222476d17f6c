// Package dashboards holds the Grafana dashboards of flightrec_exporter:
// flightrec-overview.json (the cluster: failed syscalls, fsync, futex, the
// exporters' health) and flightrec-pod.json (one pod, with links to its
// dumps).
//
// The JSON files are generated from Go (internal/build, with the Grafana
// Foundation SDK) and committed; regenerate them with
//
//	go generate ./dashboards
//
// The tests fail when the committed files differ from what the generator
// writes. Files returns the committed JSON and Queries their PromQL, for the
// Helm chart and the end-to-end tests.
package dashboards

//go:generate go run ./gen -out .
