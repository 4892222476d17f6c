package build

import "strings"

// seriesLabels and tableFields name a row's namespace, pod and container in
// Grafana's data-link syntax: from the labels of a time series, or from the
// columns of a table built from an instant query.
var (
	seriesLabels = target{
		namespace: "${__field.labels.namespace}",
		pod:       "${__field.labels.pod}",
		container: "${__field.labels.container}",
		syscall:   "${__field.labels.syscall}",
	}
	tableFields = target{
		namespace: "${__data.fields.namespace}",
		pod:       "${__data.fields.pod}",
		container: "${__data.fields.container}",
		syscall:   "${__data.fields.syscall}",
	}
	// dashboardVars is the pod chosen on the pod dashboard (all its
	// containers).
	dashboardVars = target{namespace: "${namespace}", pod: "${pod}"}
)

// target is a container as a data link names it.
type target struct{ namespace, pod, container, syscall string }

// dumpURL is the exporter's /dump of the target with extra parameters
// ("failed=true", "previous=true", "syscall=..."), through the
// dump_base_url dashboard variable.
func dumpURL(t target, extra ...string) string {
	params := []string{"namespace=" + t.namespace, "pod=" + t.pod}
	if t.container != "" {
		params = append(params, "container="+t.container)
	}
	params = append(params, extra...)
	return "${dump_base_url}/dump?" + strings.Join(params, "&")
}

// podDashboardURL opens the pod dashboard on the target, keeping the
// datasource and the time range.
func podDashboardURL(t target) string {
	return "/d/" + PodUID + "/" + PodUID + "?${datasource:queryparam}" +
		"&var-namespace=" + t.namespace + "&var-pod=" + t.pod + "&var-container=" + t.container +
		"&${dump_base_url:queryparam}&${__url_time_range}"
}

// overviewURL opens the overview dashboard on the namespace chosen here.
func overviewURL() string {
	return "/d/" + OverviewUID + "/" + OverviewUID + "?${datasource:queryparam}" +
		"&var-namespace=${namespace}&${dump_base_url:queryparam}&${__url_time_range}"
}
