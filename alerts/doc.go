// Package alerts holds the Prometheus alerting rules of flightrec_exporter.
//
// The rules live in flightrec.rules.yml, a plain Prometheus rule file that
// Prometheus loads directly and the Helm chart wraps into a PrometheusRule;
// runbooks.md explains each alert and flightrec.rules_test.yml tests them with
// promtool. This package embeds the rule file so that Go code (the chart's
// tests, end-to-end tests) uses the same bytes.
package alerts

import (
	_ "embed"
	"strings"
)

// Rules is the content of flightrec.rules.yml.
//
//go:embed flightrec.rules.yml
var Rules []byte

// DefaultDumpBaseURL is the base of every dump_url annotation when Prometheus
// has no flightrec_dump_base_url external label. It appears literally in the
// rule file so that a deployment tool can replace it.
const DefaultDumpBaseURL = "http://flightrec-exporter:9747"

// RunbookBaseURL is where the runbook_url annotations point; each alert's
// section is the lowercase alert name.
const RunbookBaseURL = "https://github.com/flightrec/flightrec_exporter/blob/main/alerts/runbooks.md"

// RulesWithDumpBaseURL returns Rules with DefaultDumpBaseURL replaced by base
// (a trailing slash is dropped). The external label flightrec_dump_base_url,
// when Prometheus has it, still takes precedence.
func RulesWithDumpBaseURL(base string) []byte {
	base = strings.TrimRight(base, "/")
	return []byte(strings.ReplaceAll(string(Rules), DefaultDumpBaseURL, base))
}
