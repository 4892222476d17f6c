// Package build defines the flightrec Grafana dashboards with the Grafana
// Foundation SDK and renders them as JSON. The committed files in dashboards/
// are its output (go run ./dashboards/gen); package dashboards' tests fail
// when they drift apart.
package build

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Dashboard uids, also the targets of the links between them.
const (
	OverviewUID = "flightrec-overview"
	PodUID      = "flightrec-pod"
)

// Files maps each dashboard's file name to its uid.
var Files = map[string]string{
	OverviewUID + ".json": OverviewUID,
	PodUID + ".json":      PodUID,
}

// DefaultDumpBaseURL is the default of the dump_base_url dashboard variable:
// where Grafana users reach an exporter's /dump. The same default as the
// alerts' dump_url.
const DefaultDumpBaseURL = "http://flightrec-exporter:9747"

// Tag is on every flightrec dashboard; the dashboards link to each other
// through it.
const Tag = "flightrec"

// Render builds every dashboard and returns its JSON by file name: indented,
// with a final newline, identical from run to run.
func Render() (map[string][]byte, error) {
	out := map[string][]byte{}
	for name, build := range map[string]func() (dashboard.Dashboard, error){
		OverviewUID + ".json": Overview,
		PodUID + ".json":      Pod,
	} {
		d, err := build()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		b, err := Marshal(d)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// Marshal renders a dashboard as the committed files are written: two-space
// indentation, '&', '<' and '>' left unescaped (PromQL and URLs stay
// readable), a final newline.
func Marshal(d dashboard.Dashboard) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, unescapeHTML(b), "", "  "); err != nil {
		return nil, err
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// unescapeHTML turns the \u0026, \u003c and \u003e escapes that
// encoding/json writes (the SDK's own MarshalJSON methods escape HTML
// regardless of the encoder's setting) back into '&', '<' and '>'; the JSON
// means the same.
func unescapeHTML(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			out = append(out, b[i])
			continue
		}
		if b[i+1] == 'u' && i+6 <= len(b) {
			switch string(b[i+2 : i+6]) {
			case "0026":
				out, i = append(out, '&'), i+5
				continue
			case "003c":
				out, i = append(out, '<'), i+5
				continue
			case "003e":
				out, i = append(out, '>'), i+5
				continue
			}
		}
		// Any other escape, \\ included, is kept as it is.
		out, i = append(out, b[i], b[i+1]), i+1
	}
	return out
}

// finish gives every panel and row a stable id, in layout order, and lets
// every link show where Grafana shows links by default (the SDK puts them in
// the controls menu).
func finish(d *dashboard.Dashboard) {
	id := uint32(0)
	next := func() *uint32 { id++; v := id; return &v }
	panel := func(p *dashboard.Panel) {
		p.Id = next()
		clearPlacement(p.Links)
		if p.FieldConfig != nil {
			clearPlacement(p.FieldConfig.Defaults.Links)
		}
	}
	for _, p := range d.Panels {
		switch {
		case p.Panel != nil:
			panel(p.Panel)
		case p.RowPanel != nil:
			p.RowPanel.Id = *next()
			for i := range p.RowPanel.Panels {
				panel(&p.RowPanel.Panels[i])
			}
		}
	}
	clearPlacement(d.Links)
}

func clearPlacement(links []dashboard.DashboardLink) {
	for i := range links {
		links[i].Placement = nil
	}
}
