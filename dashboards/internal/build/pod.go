package build

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// sel selects the series of the pod (and containers) chosen on the pod
// dashboard.
const sel = `namespace="$namespace", pod="$pod", container=~"$container"`

// Pod is the drill-down dashboard of one pod: its failed syscalls, fsync and
// futex latency, with links to its dumps.
func Pod() (dashboard.Dashboard, error) {
	b := newDashboard("flightrec / Pod", PodUID,
		"Failed syscalls and syscall latency of one pod, with links to its flight-recorder dumps.").
		Link(link("Cluster overview", overviewURL(), false)).
		Link(link("Dump of the pod", dumpURL(dashboardVars), true)).
		Link(link("Dump of its previous run", dumpURL(dashboardVars, "previous=true"), true)).
		Link(linkToDashboards()).
		WithVariable(datasourceVariable()).
		WithVariable(labelVariable("namespace", "Namespace", `label_values(flightrec_syscall_errors_total, namespace)`)).
		WithVariable(labelVariable("pod", "Pod", `label_values(flightrec_syscall_errors_total{namespace="$namespace"}, pod)`)).
		WithVariable(multiLabelVariable("container", "Container", `label_values(flightrec_syscall_errors_total{namespace="$namespace", pod="$pod"}, container)`)).
		WithVariable(dumpBaseVariable())

	// Every series of this dashboard keeps namespace, pod and container, so
	// that a click opens that container's dump.
	dumps := func(calls, filter string) []cog.Builder[dashboard.DashboardLink] {
		return []cog.Builder[dashboard.DashboardLink]{
			link("Dump of ${__field.labels.container}: "+calls+" calls", dumpURL(seriesLabels, filter), true),
			link("Dump of ${__field.labels.container}, failed calls only", dumpURL(seriesLabels, "failed=true"), true),
			link("Dump of ${__field.labels.container}, previous run", dumpURL(seriesLabels, "previous=true"), true),
		}
	}

	b.WithRow(dashboard.NewRowBuilder("Failed syscalls")).
		WithPanel(timeseriesPanel("Failed syscalls by syscall and errno",
			"Syscalls that returned an error, per second. Click a series for the dump of its failed calls.", "ops",
			query(`sum by (namespace, pod, container, syscall, errno) (rate(flightrec_syscall_errors_total{`+sel+`}[$__rate_interval]))`,
				"{{container}}: {{syscall}} {{errno}}")).
			Span(24).
			DataLinks([]cog.Builder[dashboard.DashboardLink]{
				link("Dump of ${__field.labels.container}: failed ${__field.labels.syscall} calls", dumpURL(seriesLabels, "failed=true", "syscall="+seriesLabels.syscall), true),
				link("Dump of ${__field.labels.container}", dumpURL(seriesLabels), true),
				link("Dump of ${__field.labels.container}, previous run", dumpURL(seriesLabels, "previous=true"), true),
			})).
		WithPanel(tablePanel("Error series in the time range",
			"Every syscall/errno pair that failed in the time range, most failures first. Click a row for the dump of those calls.",
			instantTable(`sort_desc(sum by (namespace, pod, container, syscall, errno) (increase(flightrec_syscall_errors_total{`+sel+`}[$__range])) > 0)`)).
			Unit("short").
			Decimals(0).
			WithTransformation(organize(map[string]string{"Value": "Failed calls"},
				"container", "syscall", "errno", "Value", "namespace", "pod")).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("Failed calls").Desc(true),
			}).
			DataLinks([]cog.Builder[dashboard.DashboardLink]{
				link("Dump of ${__data.fields.container}: failed ${__data.fields.syscall} calls", dumpURL(tableFields, "failed=true", "syscall="+tableFields.syscall), true),
				link("Dump of ${__data.fields.container}, previous run", dumpURL(tableFields, "previous=true"), true),
			}))

	b.WithRow(dashboard.NewRowBuilder("fsync")).
		WithPanel(timeseriesPanel("Storage flush latency",
			"50th and 99th percentile of the watched fsync-family syscalls, per container and syscall.", "s",
			query(`histogram_quantile(0.99, sum by (namespace, pod, container, syscall, le) (rate(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"`+fsyncFamily+`"}[$__rate_interval])))`,
				"{{container}}: {{syscall}} p99"),
			query(`histogram_quantile(0.5, sum by (namespace, pod, container, syscall, le) (rate(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"`+fsyncFamily+`"}[$__rate_interval])))`,
				"{{container}}: {{syscall}} p50")).
			Span(8).
			DataLinks(dumps(seriesLabels.syscall, "syscall="+seriesLabels.syscall))).
		WithPanel(timeseriesPanel("Storage flush calls",
			"Calls of the watched fsync-family syscalls per second.", "ops",
			query(`sum by (namespace, pod, container, syscall) (rate(flightrec_syscalls_total{`+sel+`, syscall=~"`+fsyncFamily+`"}[$__rate_interval]))`,
				"{{container}}: {{syscall}}")).
			Span(8).
			DataLinks(dumps(seriesLabels.syscall, "syscall="+seriesLabels.syscall))).
		WithPanel(heatmapPanel("fsync and fdatasync latency",
			"How long fsync and fdatasync took in the selected containers (power-of-two buckets).",
			heatmapQuery(`sum by (le) (increase(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"`+fsyncOnly+`"}[$__rate_interval]))`)).
			Links([]cog.Builder[dashboard.DashboardLink]{
				link("Dump of the pod's fsync and fdatasync calls", dumpURL(dashboardVars, "syscall=fsync,fdatasync"), true),
			}))

	b.WithRow(dashboard.NewRowBuilder("futex")).
		WithPanel(timeseriesPanel("Threads blocked in futex waits",
			"Seconds spent in futex waits per second: threads waiting on locks and condition variables, on average. Idle threads parking with a timeout count too.", "short",
			query(`sum by (namespace, pod, container) (rate(flightrec_syscall_duration_seconds_sum{`+sel+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval]))`,
				"{{container}}")).
			Span(6).
			DataLinks(dumps("futex", "syscall=futex,futex_waitv"))).
		WithPanel(timeseriesPanel("futex calls by operation",
			"futex calls per second: wait (the caller blocked), wake, other.", "ops",
			query(`sum by (namespace, pod, container, op) (rate(flightrec_syscalls_total{`+sel+`, syscall=~"futex|futex_waitv"}[$__rate_interval]))`,
				"{{container}}: {{op}}")).
			Span(6).
			DataLinks(dumps("futex", "syscall=futex,futex_waitv"))).
		WithPanel(timeseriesPanel("futex wait latency",
			"50th and 99th percentile of futex waits per container.", "s",
			query(`histogram_quantile(0.99, sum by (namespace, pod, container, le) (rate(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval])))`,
				"{{container}} p99"),
			query(`histogram_quantile(0.5, sum by (namespace, pod, container, le) (rate(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval])))`,
				"{{container}} p50")).
			Span(6).
			DataLinks(dumps("futex", "syscall=futex,futex_waitv"))).
		WithPanel(heatmapPanel("futex wait durations",
			"How long futex waits lasted in the selected containers: many short waits are contention, long ones idle threads.",
			heatmapQuery(`sum by (le) (increase(flightrec_syscall_duration_seconds_bucket{`+sel+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval]))`)).
			Span(6).
			Links([]cog.Builder[dashboard.DashboardLink]{
				link("Dump of the pod's futex calls", dumpURL(dashboardVars, "syscall=futex,futex_waitv"), true),
			}))

	d, err := b.Build()
	if err != nil {
		return d, err
	}
	finish(&d)
	return d, nil
}
