package dashboards

import (
	"github.com/flightrec/flightrec_exporter/internal/testenv"

	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/flightrec/flightrec_exporter/alerts"
	"github.com/flightrec/flightrec_exporter/dashboards/internal/build"
)

// TestCommittedDashboardsAreGenerated fails when the committed JSON drifts
// from what the generator writes.
func TestCommittedDashboardsAreGenerated(t *testing.T) {
	files, err := build.Render()
	if err != nil {
		t.Fatal(err)
	}
	if got := sortedKeys(files); !slices.Equal(got, fileNames) {
		t.Fatalf("generator writes %q, package embeds %q", got, fileNames)
	}
	embedded := Files()
	for _, name := range fileNames {
		onDisk, err := os.ReadFile(name)
		if err != nil {
			t.Fatalf("%v (run: go generate ./dashboards)", err)
		}
		if !bytes.Equal(onDisk, files[name]) {
			t.Errorf("%s differs from the generator's output at %s; run: go generate ./dashboards", name, firstDiff(onDisk, files[name]))
		}
		if !bytes.Equal(onDisk, embedded[name]) {
			t.Errorf("%s: embedded copy differs from the file", name)
		}
	}
	// No stale dashboards next to the generated ones.
	others, _ := filepath.Glob("*.json")
	for _, f := range others {
		if !slices.Contains(fileNames, f) {
			t.Errorf("%s: not written by the generator", f)
		}
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	a, err := build.Render()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		b, err := build.Render()
		if err != nil {
			t.Fatal(err)
		}
		for name := range a {
			if !bytes.Equal(a[name], b[name]) {
				t.Fatalf("%s: two renderings differ at %s", name, firstDiff(a[name], b[name]))
			}
		}
	}
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) || i < len(bl); i++ {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d: %q vs %q", i+1, x, y)
		}
	}
	return "end of file"
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// The parts of the dashboard JSON the checks look at.
type (
	testDashboard struct {
		UID        string     `json:"uid"`
		Title      string     `json:"title"`
		Tags       []string   `json:"tags"`
		Links      []testLink `json:"links"`
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Query      any    `json:"query"`
				Multi      bool   `json:"multi"`
				IncludeAll bool   `json:"includeAll"`
			} `json:"list"`
		} `json:"templating"`
		Panels []testPanel `json:"panels"`
	}
	testPanel struct {
		ID         int        `json:"id"`
		Type       string     `json:"type"`
		Title      string     `json:"title"`
		Datasource testDS     `json:"datasource"`
		Links      []testLink `json:"links"`
		Panels     []testPanel
		Targets    []struct {
			Expr       string `json:"expr"`
			RefID      string `json:"refId"`
			Datasource testDS `json:"datasource"`
		} `json:"targets"`
		FieldConfig struct {
			Defaults struct {
				Links []testLink `json:"links"`
			} `json:"defaults"`
		} `json:"fieldConfig"`
	}
	testDS   struct{ Type, UID string }
	testLink struct {
		Title string `json:"title"`
		Type  string `json:"type"`
		URL   string `json:"url"`
		Tags  []string
	}
)

func loadDashboard(t *testing.T, file string) testDashboard {
	t.Helper()
	var d testDashboard
	if err := json.Unmarshal(Files()[file], &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return d
}

// panels returns the dashboard's panels, rows excluded, rows' panels
// included.
func (d testDashboard) panels() []testPanel {
	var out []testPanel
	var walk func([]testPanel)
	walk = func(ps []testPanel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

func TestDashboardMetadata(t *testing.T) {
	for file, want := range map[string]struct {
		uid  string
		vars []string
	}{
		"flightrec-overview.json": {"flightrec-overview", []string{"datasource", "namespace", "dump_base_url"}},
		"flightrec-pod.json":      {"flightrec-pod", []string{"datasource", "namespace", "pod", "container", "dump_base_url"}},
	} {
		d := loadDashboard(t, file)
		if d.UID != want.uid {
			t.Errorf("%s: uid %q, want %q", file, d.UID, want.uid)
		}
		if !slices.Contains(d.Tags, "flightrec") {
			t.Errorf("%s: tags %q lack flightrec", file, d.Tags)
		}
		var names []string
		for _, v := range d.Templating.List {
			names = append(names, v.Name)
			switch v.Name {
			case "datasource":
				if v.Type != "datasource" || v.Query != "prometheus" {
					t.Errorf("%s: datasource variable is %s %v, want a prometheus datasource picker", file, v.Type, v.Query)
				}
			case "dump_base_url":
				if v.Type != "textbox" || v.Query != alerts.DefaultDumpBaseURL {
					t.Errorf("%s: dump_base_url is %s %v, want a textbox defaulting to %s (as the alerts)", file, v.Type, v.Query, alerts.DefaultDumpBaseURL)
				}
			case "namespace":
				if file == "flightrec-overview.json" && (!v.Multi || !v.IncludeAll) {
					t.Errorf("%s: namespace should be multi-value with All", file)
				}
			}
		}
		if !slices.Equal(names, want.vars) {
			t.Errorf("%s: variables %q, want %q", file, names, want.vars)
		}
	}
}

func TestPanelsHaveQueries(t *testing.T) {
	for _, file := range fileNames {
		d := loadDashboard(t, file)
		ids := map[int]bool{}
		for _, p := range d.panels() {
			if ids[p.ID] || p.ID == 0 {
				t.Errorf("%s: panel %q: id %d missing or reused", file, p.Title, p.ID)
			}
			ids[p.ID] = true
			if p.Title == "" {
				t.Errorf("%s: panel %d has no title", file, p.ID)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", file, p.Title)
			}
			if p.Datasource.UID != "${datasource}" {
				t.Errorf("%s: panel %q: datasource %q, want ${datasource}", file, p.Title, p.Datasource.UID)
			}
			refs := map[string]bool{}
			for _, q := range p.Targets {
				if strings.TrimSpace(q.Expr) == "" {
					t.Errorf("%s: panel %q: query %s is empty", file, p.Title, q.RefID)
				}
				if q.RefID == "" || refs[q.RefID] {
					t.Errorf("%s: panel %q: refId %q missing or reused", file, p.Title, q.RefID)
				}
				refs[q.RefID] = true
				if q.Datasource.UID != "${datasource}" {
					t.Errorf("%s: panel %q: query %s uses datasource %q", file, p.Title, q.RefID, q.Datasource.UID)
				}
			}
		}
	}
}

// dataLinkLabel finds the series labels and table columns a data link uses.
var dataLinkLabel = regexp.MustCompile(`\$\{__(?:field\.labels|data\.fields)\.(\w+)\}`)

// grouping finds the label lists of "by (...)" and "without (...)".
var grouping = regexp.MustCompile(`\b(by|without)\s*\(([^)]*)\)`)

// TestDataLinksResolve checks that the labels a data link uses survive every
// aggregation of the panel's queries, so that the link is filled in.
func TestDataLinksResolve(t *testing.T) {
	for _, file := range fileNames {
		for _, p := range loadDashboard(t, file).panels() {
			for _, l := range p.FieldConfig.Defaults.Links {
				used := map[string]bool{}
				for _, m := range dataLinkLabel.FindAllStringSubmatch(l.URL+" "+l.Title, -1) {
					label := m[1]
					if used[label] {
						continue
					}
					used[label] = true
					for _, q := range p.Targets {
						for _, g := range grouping.FindAllStringSubmatch(q.Expr, -1) {
							labels := strings.Split(strings.ReplaceAll(g[2], " ", ""), ",")
							if (g[1] == "by") != slices.Contains(labels, label) {
								t.Errorf("%s: panel %q: link %q uses %s, which %s (%s) drops: %s", file, p.Title, l.Title, label, g[1], g[2], q.Expr)
							}
						}
					}
				}
			}
		}
	}
}

// TestDumpLinks checks that the pod dashboard links every panel to the dumps.
func TestDumpLinks(t *testing.T) {
	const (
		series = "${dump_base_url}/dump?namespace=${__field.labels.namespace}&pod=${__field.labels.pod}&container=${__field.labels.container}"
		table  = "${dump_base_url}/dump?namespace=${__data.fields.namespace}&pod=${__data.fields.pod}&container=${__data.fields.container}"
		pod    = "${dump_base_url}/dump?namespace=${namespace}&pod=${pod}"
	)
	d := loadDashboard(t, "flightrec-pod.json")
	for _, p := range d.panels() {
		var prefix string
		links := p.FieldConfig.Defaults.Links
		switch p.Type {
		case "timeseries":
			prefix = series
		case "table":
			prefix = table
		case "heatmap":
			prefix, links = pod, p.Links
		default:
			t.Errorf("panel %q: unexpected type %s", p.Title, p.Type)
			continue
		}
		found := false
		for _, l := range links {
			found = found || strings.HasPrefix(l.URL, prefix)
		}
		if !found {
			t.Errorf("flightrec-pod.json: panel %q (%s) has no link starting with %s", p.Title, p.Type, prefix)
		}
	}
	found := false
	for _, l := range d.Links {
		found = found || strings.HasPrefix(l.URL, pod+"&previous=true")
	}
	if !found {
		t.Errorf("flightrec-pod.json: no dashboard link to the previous run's dump")
	}
}

func TestLinksBetweenDashboards(t *testing.T) {
	overview := loadDashboard(t, "flightrec-overview.json")
	toPod := 0
	for _, p := range overview.panels() {
		for _, l := range p.FieldConfig.Defaults.Links {
			if strings.HasPrefix(l.URL, "/d/flightrec-pod/") && strings.Contains(l.URL, "var-namespace=${__") && strings.Contains(l.URL, "var-pod=${__") {
				toPod++
			}
		}
	}
	if toPod == 0 {
		t.Errorf("flightrec-overview.json: no data link opens the pod dashboard on a namespace and pod")
	}
	pod := loadDashboard(t, "flightrec-pod.json")
	toOverview := false
	for _, l := range pod.Links {
		toOverview = toOverview || strings.HasPrefix(l.URL, "/d/flightrec-overview/")
	}
	if !toOverview {
		t.Errorf("flightrec-pod.json: no link to the overview")
	}
	for _, d := range []testDashboard{overview, pod} {
		tagged := false
		for _, l := range d.Links {
			tagged = tagged || (l.Type == "dashboards" && slices.Contains(l.Tags, "flightrec"))
		}
		if !tagged {
			t.Errorf("%s: no link to the other flightrec dashboards", d.UID)
		}
	}
}

var testVars = map[string]string{
	"namespace":       "shop",
	"pod":             "api-7d9f",
	"container":       ".*",
	"__rate_interval": "1m",
	"__range":         "1h",
}

func TestVariables(t *testing.T) {
	got, err := Variables()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"__range", "__rate_interval", "container", "namespace", "pod"}; !slices.Equal(got, want) {
		t.Errorf("Variables() = %q, want %q", got, want)
	}
}

func TestQueries(t *testing.T) {
	qs, err := Queries(testVars)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range fileNames {
		for _, p := range loadDashboard(t, f).panels() {
			n += len(p.Targets)
		}
	}
	if len(qs) != n || n == 0 {
		t.Fatalf("Queries returned %d expressions, the dashboards have %d", len(qs), n)
	}
	for _, q := range qs {
		if strings.Contains(q, "$") || strings.Contains(q, "[[") {
			t.Errorf("variable left in %s", q)
		}
	}
	want := `sum by (namespace, pod, container, syscall, errno) (rate(flightrec_syscall_errors_total{namespace="shop", pod="api-7d9f", container=~".*"}[1m]))`
	if !slices.Contains(qs, want) {
		t.Errorf("Queries lacks %s", want)
	}

	ts, err := Targets(testVars)
	if err != nil {
		t.Fatal(err)
	}
	instant := 0
	for _, tg := range ts {
		if tg.Dashboard == "" || tg.Panel == "" || tg.RefID == "" {
			t.Errorf("target without its origin: %+v", tg)
		}
		if tg.Instant {
			instant++
		}
	}
	if instant == 0 {
		t.Errorf("no instant query found (the tables use them)")
	}

	partial := map[string]string{"namespace": "shop"}
	if _, err := Queries(partial); err == nil || !strings.Contains(err.Error(), "__rate_interval") || !strings.Contains(err.Error(), "pod") {
		t.Errorf("Queries with missing variables: err = %v, want one naming them", err)
	}
}

func TestVariableSyntaxes(t *testing.T) {
	for in, want := range map[string]string{
		"$pod":             "pod",
		"${pod}":           "pod",
		"${pod:regex}":     "pod",
		"[[pod]]":          "pod",
		"$__rate_interval": "__rate_interval",
	} {
		if got := variableName(variable.FindString(in)); got != want {
			t.Errorf("variable in %q = %q, want %q", in, got, want)
		}
	}
}

// TestQueriesParse has promtool parse every query (as a recording rule).
func TestQueriesParse(t *testing.T) {
	path := testenv.RequireTool(t, "promtool", "Debian package prometheus")
	ts, err := Targets(testVars)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard-queries\n    rules:\n")
	for i, tg := range ts {
		expr, _ := json.Marshal(tg.Expr) // a JSON string is a YAML string
		fmt.Fprintf(&b, "      # %s / %s / %s\n      - record: dashboard_query_%d\n        expr: %s\n", tg.Dashboard, tg.Panel, tg.RefID, i, expr)
	}
	file := filepath.Join(t.TempDir(), "queries.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(path, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}
