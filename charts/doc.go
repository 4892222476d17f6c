// Package charts holds the Helm chart of the exporter (flightrec-exporter/)
// and the tests that render it with the Helm Go SDK, without a cluster.
//
// The chart's alerting rules and Grafana dashboards have one source: the
// files alerts/flightrec.rules.yml and dashboards/*.json at the repository
// root. The chart reads them through symbolic links in
// flightrec-exporter/files/, which Helm's loader follows (logging a warning)
// and which helm package replaces by the files' contents. The tests check
// that the links resolve inside the repository, that every dashboard at the
// root is linked, and that the rendered PrometheusRule and ConfigMaps hold
// exactly what those files say.
package charts
