package testenv

import (
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one parsed scrape.
type Metrics map[string]*dto.MetricFamily

// Scrape fetches and parses /metrics.
func (e *Exporter) Scrape(t testing.TB) Metrics {
	t.Helper()
	body := e.MustGet(t, "/metrics")
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// Find returns the series of name whose labels include want.
func (m Metrics) Find(name string, want map[string]string) []*dto.Metric {
	fam, ok := m[name]
	if !ok {
		return nil
	}
	var out []*dto.Metric
	for _, s := range fam.Metric {
		match := true
		for k, v := range want {
			found := false
			for _, l := range s.Label {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				match = false
				break
			}
		}
		if match {
			out = append(out, s)
		}
	}
	return out
}

// Value is the counter or gauge value of the single series of name with
// labels want; ok is false when there is none.
func (m Metrics) Value(t testing.TB, name string, want map[string]string) (float64, bool) {
	t.Helper()
	series := m.Find(name, want)
	switch len(series) {
	case 0:
		return 0, false
	case 1:
	default:
		t.Fatalf("%s%v: %d series, want one", name, want, len(series))
	}
	s := series[0]
	switch {
	case s.Counter != nil:
		return s.Counter.GetValue(), true
	case s.Gauge != nil:
		return s.Gauge.GetValue(), true
	case s.Untyped != nil:
		return s.Untyped.GetValue(), true
	}
	t.Fatalf("%s%v is not a counter or gauge", name, want)
	return 0, false
}

// Histogram returns the count and sum of the single histogram series of
// name with labels want.
func (m Metrics) Histogram(t testing.TB, name string, want map[string]string) (count uint64, sum float64, ok bool) {
	t.Helper()
	series := m.Find(name, want)
	if len(series) != 1 || series[0].Histogram == nil {
		return 0, 0, false
	}
	h := series[0].Histogram
	return h.GetSampleCount(), h.GetSampleSum(), true
}
