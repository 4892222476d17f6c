package build

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/heatmap"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/grafana/grafana-foundation-sdk/go/stat"
	"github.com/grafana/grafana-foundation-sdk/go/table"
	"github.com/grafana/grafana-foundation-sdk/go/timeseries"
)

// Metric names and selectors shared by the dashboards.
const (
	errorsMetric   = "flightrec_syscall_errors_total"
	callsMetric    = "flightrec_syscalls_total"
	durationMetric = "flightrec_syscall_duration_seconds"

	// The watched syscalls that flush to storage, as the exporter's default
	// --collector.syscalls.watch has them.
	fsyncFamily = `fsync|fdatasync|sync_file_range|syncfs|msync`
	// The two whose latency is the storage's commit latency.
	fsyncOnly = `fsync|fdatasync`
)

// datasource refers to the dashboard's datasource variable.
func datasource() common.DataSourceRef {
	return common.DataSourceRef{Type: cog.ToPtr("prometheus"), Uid: cog.ToPtr("${datasource}")}
}

// datasourceVariable is the Prometheus datasource picker.
func datasourceVariable() *dashboard.DatasourceVariableBuilder {
	return dashboard.NewDatasourceVariableBuilder("datasource").
		Label("Data source").
		Type("prometheus")
}

// labelVariable is a query variable listing the values of a label.
func labelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return dashboard.NewQueryVariableBuilder(name).
		Label(label).
		Datasource(datasource()).
		Query(dashboard.StringOrMap{String: cog.ToPtr(query)}).
		Definition(query).
		Refresh(dashboard.VariableRefreshOnTimeRangeChanged).
		Sort(dashboard.VariableSortAlphabeticalAsc)
}

// multiLabelVariable is labelVariable choosing any number of values, All
// (any value, ".*") when the dashboard opens.
func multiLabelVariable(name, label, query string) *dashboard.QueryVariableBuilder {
	return labelVariable(name, label, query).
		Multi(true).
		IncludeAll(true).
		AllValue(".*").
		Current(dashboard.VariableOption{
			Selected: cog.ToPtr(true),
			Text:     dashboard.StringOrArrayOfString{ArrayOfString: []string{"All"}},
			Value:    dashboard.StringOrArrayOfString{ArrayOfString: []string{"$__all"}},
		})
}

// newDashboard starts a dashboard with the settings both share: the
// flightrec tag, crosshair tooltips, 30 s refresh over the last hour.
func newDashboard(title, uid, description string) *dashboard.DashboardBuilder {
	return dashboard.NewDashboardBuilder(title).
		Uid(uid).
		Description(description).
		Tags([]string{Tag}).
		Editable().
		Tooltip(dashboard.DashboardCursorSyncCrosshair).
		Refresh("30s").
		Time("now-1h", "now").
		Timezone(common.TimeZoneBrowser)
}

// dumpBaseVariable is the text box holding where /dump is reached from the
// browser.
func dumpBaseVariable() *dashboard.TextBoxVariableBuilder {
	v := DefaultDumpBaseURL
	return dashboard.NewTextBoxVariableBuilder("dump_base_url").
		Label("Dump base URL").
		Description("Where the browser reaches a flightrec exporter (any one: it forwards dump requests to the pod's node).").
		DefaultValue(dashboard.StringOrMap{String: &v}).
		Current(dashboard.VariableOption{
			Text:  dashboard.StringOrArrayOfString{String: &v},
			Value: dashboard.StringOrArrayOfString{String: &v},
		})
}

// linkToDashboards lists the other flightrec dashboards, keeping the time
// range and the variables.
func linkToDashboards() *dashboard.DashboardLinkBuilder {
	return dashboard.NewDashboardLinkBuilder("flightrec").
		Type(dashboard.DashboardLinkTypeDashboards).
		Tags([]string{Tag}).
		AsDropdown(true).
		IncludeVars(true).
		KeepTime(true)
}

// link is a URL link (dashboard link or data link).
func link(title, url string, newTab bool) *dashboard.DashboardLinkBuilder {
	return dashboard.NewDashboardLinkBuilder(title).
		Type(dashboard.DashboardLinkTypeLink).
		Url(url).
		TargetBlank(newTab)
}

// query is a Prometheus range query.
func query(expr, legend string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat(legend).
		Range()
}

// instantTable is an instant query whose labels become table columns.
func instantTable(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		Format(prometheus.PromQueryFormatTable).
		Instant()
}

// heatmapQuery is a range query of histogram buckets, one row per bucket.
func heatmapQuery(expr string) *prometheus.DataqueryBuilder {
	return prometheus.NewDataqueryBuilder().
		Datasource(datasource()).
		Expr(expr).
		LegendFormat("{{le}}").
		Format(prometheus.PromQueryFormatHeatmap).
		Range()
}

var refIDs = []string{"A", "B", "C", "D", "E", "F", "G", "H"}

// timeseriesPanel is a line graph of the queries.
func timeseriesPanel(title, description, unit string, qs ...*prometheus.DataqueryBuilder) *timeseries.PanelBuilder {
	p := timeseries.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Min(0).
		Height(8).
		Span(12).
		LineWidth(1).
		FillOpacity(10).
		ShowPoints(common.VisibilityModeNever).
		SpanNulls(common.BoolOrFloat64{Bool: cog.ToPtr(false)}).
		Legend(common.NewVizLegendOptionsBuilder().
			ShowLegend(true).
			DisplayMode(common.LegendDisplayModeTable).
			Placement(common.LegendPlacementBottom).
			Calcs([]string{"mean", "max", "lastNotNull"}).
			SortBy("Max").
			SortDesc(true)).
		Tooltip(common.NewVizTooltipOptionsBuilder().
			Mode(common.TooltipDisplayModeMulti).
			Sort(common.SortOrderDescending))
	for i, q := range qs {
		p.WithTarget(q.RefId(refIDs[i]))
	}
	return p
}

// heatmapPanel shows a latency histogram over time.
func heatmapPanel(title, description string, q *prometheus.DataqueryBuilder) *heatmap.PanelBuilder {
	return heatmap.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Height(8).
		Span(8).
		Calculate(false).
		YAxis(heatmap.NewYAxisConfigBuilder().Unit("s")).
		RowsFrame(heatmap.NewRowsHeatmapOptionsBuilder().Layout(common.HeatmapCellLayoutLe)).
		Color(heatmap.NewHeatmapColorOptionsBuilder().
			Mode(heatmap.HeatmapColorModeScheme).
			Scheme("Oranges").
			Scale(heatmap.HeatmapColorScaleExponential).
			Exponent(0.5).
			Steps(64)).
		CellValues(heatmap.NewCellValuesBuilder().Unit("short")).
		ShowValue(common.VisibilityModeNever).
		Tooltip(heatmap.NewHeatmapTooltipBuilder().Mode(common.TooltipDisplayModeSingle).YHistogram(true)).
		WithTarget(q.RefId("A"))
}

// tablePanel lists the rows of an instant query.
func tablePanel(title, description string, q *prometheus.DataqueryBuilder) *table.PanelBuilder {
	return table.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Height(8).
		Span(24).
		WithTarget(q.RefId("A"))
}

// statPanel shows one number.
func statPanel(title, description, unit string, q *prometheus.DataqueryBuilder) *stat.PanelBuilder {
	return stat.NewPanelBuilder().
		Title(title).
		Description(description).
		Datasource(datasource()).
		Unit(unit).
		Height(4).
		Span(4).
		GraphMode(common.BigValueGraphModeArea).
		ColorMode(common.BigValueColorModeValue).
		ReduceOptions(common.NewReduceDataOptionsBuilder().Calcs([]string{"lastNotNull"})).
		WithTarget(q.RefId("A"))
}

// step is a threshold: from Value on, the value is shown in Color.
type step struct {
	Value float64
	Color string
}

// thresholds colours a value green, then as the steps say.
func thresholds(steps ...step) *dashboard.ThresholdsConfigBuilder {
	ts := []dashboard.Threshold{{Color: "green"}}
	for _, s := range steps {
		ts = append(ts, dashboard.Threshold{Value: cog.ToPtr(s.Value), Color: s.Color})
	}
	return dashboard.NewThresholdsConfigBuilder().Mode(dashboard.ThresholdsModeAbsolute).Steps(ts)
}

// organize hides the Time column of a table, renames and orders the others.
func organize(rename map[string]string, order ...string) dashboard.DataTransformerConfig {
	index := map[string]int{}
	for i, c := range order {
		index[c] = i
	}
	return dashboard.DataTransformerConfig{
		Id: "organize",
		Options: map[string]any{
			"excludeByName": map[string]bool{"Time": true},
			"indexByName":   index,
			"renameByName":  rename,
		},
	}
}
