package build

import (
	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// ns filters the syscall series by the overview's namespace variable. The
// exporter's own flightrec_recorder_* series carry the exporter pod's
// namespace, so they are never filtered by it.
const ns = `namespace=~"$namespace"`

// Overview is the cluster-wide dashboard: failed syscalls, fsync and futex
// behaviour across namespaces, and the exporters' own health.
func Overview() (dashboard.Dashboard, error) {
	b := newDashboard("flightrec / Overview", OverviewUID,
		"Failed syscalls, fsync and futex behaviour of every container, from the flightrec eBPF flight recorder.").
		Link(linkToDashboards()).
		WithVariable(datasourceVariable()).
		WithVariable(multiLabelVariable("namespace", "Namespace", `label_values(flightrec_syscall_errors_total, namespace)`)).
		WithVariable(dumpBaseVariable())

	// Failed syscalls.
	drill := []cog.Builder[dashboard.DashboardLink]{
		link("Pod dashboard: ${__field.labels.namespace}/${__field.labels.pod}", podDashboardURL(seriesLabels), false),
		link("Dump of ${__field.labels.namespace}/${__field.labels.pod} ${__field.labels.container} (failed calls)", dumpURL(seriesLabels, "failed=true"), true),
	}
	b.WithRow(dashboard.NewRowBuilder("Failed syscalls")).
		WithPanel(timeseriesPanel("Failed syscalls by errno",
			"Syscalls that returned an error, per second, by errno, in the selected namespaces.", "ops",
			query(`sum by (errno) (rate(flightrec_syscall_errors_total{`+ns+`}[$__rate_interval]))`, "{{errno}}"))).
		WithPanel(timeseriesPanel("Failed syscalls by syscall",
			"Syscalls that returned an error, per second, by syscall, in the selected namespaces.", "ops",
			query(`sum by (syscall) (rate(flightrec_syscall_errors_total{`+ns+`}[$__rate_interval]))`, "{{syscall}}"))).
		WithPanel(tablePanel("Containers with the most failed syscalls",
			"Failed syscalls in the time range, top 20 containers. Click a row for the pod dashboard or the container's dump.",
			instantTable(`topk(20, sum by (namespace, pod, container) (increase(flightrec_syscall_errors_total{`+ns+`}[$__range])))`)).
			Unit("short").
			Decimals(0).
			WithTransformation(organize(map[string]string{"Value": "Failed calls"}, "namespace", "pod", "container", "Value")).
			SortBy([]cog.Builder[common.TableSortByFieldState]{
				common.NewTableSortByFieldStateBuilder().DisplayName("Failed calls").Desc(true),
			}).
			DataLinks([]cog.Builder[dashboard.DashboardLink]{
				link("Pod dashboard: ${__data.fields.namespace}/${__data.fields.pod}", podDashboardURL(tableFields), false),
				link("Dump of ${__data.fields.namespace}/${__data.fields.pod} ${__data.fields.container} (failed calls)", dumpURL(tableFields, "failed=true"), true),
			}))

	// fsync.
	b.WithRow(dashboard.NewRowBuilder("fsync")).
		WithPanel(timeseriesPanel("Storage flush calls",
			"Calls of the watched fsync-family syscalls per second.", "ops",
			query(`sum by (syscall) (rate(flightrec_syscalls_total{`+ns+`, syscall=~"`+fsyncFamily+`"}[$__rate_interval]))`, "{{syscall}}")).
			Span(8)).
		WithPanel(heatmapPanel("fsync and fdatasync latency",
			"How long fsync and fdatasync took, all selected containers together (power-of-two buckets).",
			heatmapQuery(`sum by (le) (increase(flightrec_syscall_duration_seconds_bucket{`+ns+`, syscall=~"`+fsyncOnly+`"}[$__rate_interval]))`))).
		WithPanel(timeseriesPanel("Slowest containers: fsync p99",
			"99th percentile of fsync and fdatasync per container, top 10. Click a series for its pod dashboard or dump.", "s",
			query(`topk(10, histogram_quantile(0.99, sum by (namespace, pod, container, le) (rate(flightrec_syscall_duration_seconds_bucket{`+ns+`, syscall=~"`+fsyncOnly+`"}[$__rate_interval]))))`,
				"{{namespace}}/{{pod}} {{container}}")).
			Span(8).
			DataLinks(drill))

	// futex.
	b.WithRow(dashboard.NewRowBuilder("futex")).
		WithPanel(timeseriesPanel("Threads blocked in futex waits",
			"Seconds spent in futex waits per second (threads waiting on locks and condition variables, on average), top 10 containers. Idle threads parking with a timeout count too.", "short",
			query(`topk(10, sum by (namespace, pod, container) (rate(flightrec_syscall_duration_seconds_sum{`+ns+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval])))`,
				"{{namespace}}/{{pod}} {{container}}")).
			Span(8).
			DataLinks(drill)).
		WithPanel(timeseriesPanel("futex calls by operation",
			"futex calls per second: wait (the caller blocked), wake, other.", "ops",
			query(`sum by (op) (rate(flightrec_syscalls_total{`+ns+`, syscall=~"futex|futex_waitv"}[$__rate_interval]))`, "{{op}}")).
			Span(8)).
		WithPanel(heatmapPanel("futex wait durations",
			"How long futex waits lasted, all selected containers together: many short waits are contention, long ones idle threads.",
			heatmapQuery(`sum by (le) (increase(flightrec_syscall_duration_seconds_bucket{`+ns+`, syscall=~"futex|futex_waitv", op="wait"}[$__rate_interval]))`)))

	// The exporters themselves.
	b.WithRow(dashboard.NewRowBuilder("Exporter health")).
		WithPanel(statPanel("Exporters", "Exporters scraped.", "short",
			query(`count(flightrec_exporter_build_info)`, "exporters")).
			GraphMode(common.BigValueGraphModeNone).
			ColorMode(common.BigValueColorModeNone)).
		WithPanel(statPanel("Recorders not attached", "Exporters whose BPF maps cannot be read (flightrec_recorder_up == 0).", "short",
			query(`count(flightrec_recorder_up == 0) or vector(0)`, "not attached")).
			Thresholds(thresholds(step{1, "red"}))).
		WithPanel(statPanel("Failing collectors", "Collectors that failed at the last scrape, all exporters together.", "short",
			query(`count(flightrec_scrape_collector_success == 0) or vector(0)`, "failing")).
			Thresholds(thresholds(step{1, "red"}))).
		WithPanel(statPanel("Ring memory, fullest node", "Kernel memory of the rings over the memory budget (--recorder.memory-budget) on the fullest node. Promotions of busy rings stop at 75 %; at 100 % new containers get no ring.", "percentunit",
			query(`max(flightrec_recorder_ring_memory_bytes / flightrec_recorder_memory_budget_bytes)`, "in use")).
			Max(1).
			Thresholds(thresholds(step{0.75, "orange"}, step{0.95, "red"}))).
		WithPanel(statPanel("Untracked containers", "Containers that got no ring because the memory budget or the slots were spent: they have no dump.", "short",
			query(`sum(flightrec_recorder_untracked_containers)`, "untracked")).
			Thresholds(thresholds(step{1, "red"}))).
		WithPanel(statPanel("Previous runs kept", "Rings of exited containers kept for previous=true dumps.", "short",
			query(`sum(flightrec_dump_frozen_rings)`, "kept")).
			ColorMode(common.BigValueColorModeNone)).
		WithPanel(timeseriesPanel("Rings",
			"Rings by size class (small: every container's first; large: busy ones promoted; spare: ready for new containers), all nodes together, and containers left without a ring.", "short",
			query(`sum by (class) (flightrec_recorder_class_rings)`, "{{class}}"),
			query(`sum(flightrec_recorder_untracked_containers)`, "untracked containers"))).
		WithPanel(timeseriesPanel("Records",
			"Records written into the rings and lost, per second, all nodes together.", "ops",
			query(`sum(rate(flightrec_recorder_records_written_total[$__rate_interval]))`, "written"),
			query(`sum(rate(flightrec_recorder_records_overwritten_total[$__rate_interval]))`, "overwritten"),
			query(`sum(rate(flightrec_recorder_records_torn_total[$__rate_interval]))`, "torn (dropped by dumps)"),
			query(`sum(rate(flightrec_recorder_exits_lost_total[$__rate_interval]))`, "exits lost"),
			query(`sum(rate(flightrec_recorder_program_recursion_misses_total[$__rate_interval]))`, "recursion misses (not seen)"))).
		WithPanel(timeseriesPanel("Kernel memory",
			"Kernel memory of the rings (made as containers come, within the budget) and charged to each other BPF map, all nodes together.", "bytes",
			query(`sum(flightrec_recorder_ring_memory_bytes)`, "rings"),
			query(`sum(flightrec_recorder_memory_budget_bytes)`, "ring budget"),
			query(`sum by (map) (flightrec_recorder_map_memory_bytes{map!="rings"})`, "{{map}}")).
			Span(8)).
		WithPanel(timeseriesPanel("Counter map fill, fullest node",
			"Entries over capacity of the kernel counter maps (--collector.errors.max-series, --collector.syscalls.max-series).", "percentunit",
			query(`max by (map) (flightrec_recorder_map_entries / flightrec_recorder_map_max_entries)`, "{{map}}")).
			Max(1).
			Span(8)).
		WithPanel(timeseriesPanel("Events lost to full maps",
			"Events not counted because a kernel map was full, per second.", "ops",
			query(`sum by (map) (rate(flightrec_recorder_map_full_total[$__rate_interval]))`, "{{map}}"),
			query(`sum(rate(flightrec_recorder_container_map_full_total[$__rate_interval]))`, "containers")).
			Span(8))

	d, err := b.Build()
	if err != nil {
		return d, err
	}
	finish(&d)
	return d, nil
}
