package dashboards

import (
	"embed"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strings"
)

//go:embed flightrec-overview.json flightrec-pod.json
var committed embed.FS

// fileNames are the committed dashboards, overview first.
var fileNames = []string{"flightrec-overview.json", "flightrec-pod.json"}

// Files returns the committed dashboards' JSON by file name.
func Files() map[string][]byte {
	out := map[string][]byte{}
	for _, name := range fileNames {
		b, err := committed.ReadFile(name)
		if err != nil {
			panic(err) // embedded above: cannot happen
		}
		out[name] = b
	}
	return out
}

// Target is one PromQL query of a committed dashboard panel.
type Target struct {
	Dashboard string // dashboard uid
	Panel     string // panel title
	RefID     string
	Expr      string // with the template variables substituted
	Instant   bool   // an instant query (table panels); otherwise a range query
}

// variable matches Grafana's template variable syntaxes: $name, ${name},
// ${name:format} and [[name]].
var variable = regexp.MustCompile(`\$\{(\w+)(?::[\w-]+)?\}|\[\[(\w+)(?::[\w-]+)?\]\]|\$(\w+)`)

// Targets returns every query of both committed dashboards, in dashboard and
// panel order, with each template variable replaced by vars[name] — the
// dashboard variables namespace, pod and container and Grafana's built-ins
// __rate_interval and __range (see Variables). Values are inserted as they
// are: multi-value variables are used with =~, so give them as a regular
// expression ("shop|default", ".*"). A variable missing from vars is an
// error.
func Targets(vars map[string]string) ([]Target, error) {
	var out []Target
	missing := map[string]bool{}
	for _, name := range fileNames {
		ts, err := rawTargets(name)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			t.Expr = variable.ReplaceAllStringFunc(t.Expr, func(m string) string {
				v := variableName(m)
				val, ok := vars[v]
				if !ok {
					missing[v] = true
				}
				return val
			})
			out = append(out, t)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("dashboards: no value for template variables %s", strings.Join(slices.Sorted(maps.Keys(missing)), ", "))
	}
	return out, nil
}

// Queries returns the expressions of Targets(vars).
func Queries(vars map[string]string) ([]string, error) {
	ts, err := Targets(vars)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Expr
	}
	return out, nil
}

// Variables returns the names of the template variables the queries use,
// sorted: the keys Targets and Queries need.
func Variables() ([]string, error) {
	set := map[string]bool{}
	for _, name := range fileNames {
		ts, err := rawTargets(name)
		if err != nil {
			return nil, err
		}
		for _, t := range ts {
			for _, m := range variable.FindAllString(t.Expr, -1) {
				set[variableName(m)] = true
			}
		}
	}
	out := slices.Collect(maps.Keys(set))
	sort.Strings(out)
	return out, nil
}

func variableName(m string) string {
	s := variable.FindStringSubmatch(m)
	for _, g := range s[1:] {
		if g != "" {
			return g
		}
	}
	return ""
}

// jsonPanel is the part of a dashboard panel the queries are in; rows hold
// their panels when collapsed.
type jsonPanel struct {
	Type    string      `json:"type"`
	Title   string      `json:"title"`
	Panels  []jsonPanel `json:"panels"`
	Targets []struct {
		Expr    string `json:"expr"`
		RefID   string `json:"refId"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
}

// rawTargets returns the queries of a committed dashboard as written.
func rawTargets(file string) ([]Target, error) {
	b, err := committed.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var d struct {
		UID    string      `json:"uid"`
		Panels []jsonPanel `json:"panels"`
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	var out []Target
	var walk func([]jsonPanel)
	walk = func(ps []jsonPanel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				out = append(out, Target{Dashboard: d.UID, Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Instant: t.Instant})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out, nil
}
