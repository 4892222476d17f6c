package alerts

import (
	"github.com/flightrec/flightrec_exporter/internal/testenv"

	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v2"
)

const (
	rulesFile = "flightrec.rules.yml"
	testsFile = "flightrec.rules_test.yml"
)

// ruleFile is the subset of the Prometheus rule file format the checks need;
// it is decoded strictly, so a misspelt key fails the test.
type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert       string            `yaml:"alert"`
	Record      string            `yaml:"record"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	group       string
}

// unitTests is the subset of a promtool test file the checks need.
type unitTests struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

func loadRules(t *testing.T) []rule {
	t.Helper()
	var f ruleFile
	if err := yaml.UnmarshalStrict(Rules, &f); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	var rules []rule
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			r.group = g.Name
			rules = append(rules, r)
		}
	}
	if len(rules) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return rules
}

func TestEmbeddedRulesAreTheFile(t *testing.T) {
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b, Rules) {
		t.Fatalf("alerts.Rules differs from %s", rulesFile)
	}
}

func TestGroups(t *testing.T) {
	var f ruleFile
	if err := yaml.UnmarshalStrict(Rules, &f); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range f.Groups {
		names = append(names, g.Name)
	}
	if want := []string{"flightrec-syscalls", "flightrec-exporter"}; !slices.Equal(names, want) {
		t.Errorf("groups %q, want %q", names, want)
	}
}

var alertName = regexp.MustCompile(`^Flightrec[A-Z][a-z]+(?:[A-Z][a-z]+)*$`)

// TestAlertConventions checks the labels and annotations every alert must
// carry (kubernetes-mixin style), and that its runbook section exists.
func TestAlertConventions(t *testing.T) {
	anchors := runbookAnchors(t)
	seen := map[string]bool{}
	for _, r := range loadRules(t) {
		if r.Alert == "" {
			t.Errorf("group %s: recording rule %q: this file holds alerts only", r.group, r.Record)
			continue
		}
		name := r.Alert
		if !alertName.MatchString(name) {
			t.Errorf("%s: not a CamelCase name starting with Flightrec", name)
		}
		if seen[name] {
			t.Errorf("%s: defined twice", name)
		}
		seen[name] = true
		if strings.TrimSpace(r.Expr) == "" {
			t.Errorf("%s: empty expr", name)
		}
		if d, err := model.ParseDuration(r.For); err != nil || d <= 0 {
			t.Errorf("%s: for %q: want a positive duration", name, r.For)
		}
		if s := r.Labels["severity"]; s != "warning" && s != "critical" {
			t.Errorf("%s: severity %q, want warning or critical", name, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url", "dump_url"} {
			if strings.TrimSpace(r.Annotations[a]) == "" {
				t.Errorf("%s: annotation %s missing", name, a)
			}
		}
		anchor := strings.ToLower(name)
		if got, want := r.Annotations["runbook_url"], RunbookBaseURL+"#"+anchor; got != want {
			t.Errorf("%s: runbook_url %q, want %q", name, got, want)
		}
		if !anchors[anchor] {
			t.Errorf("%s: runbooks.md has no section #%s", name, anchor)
		}
		checkDumpURL(t, r)
	}
	for a := range anchors {
		if strings.HasPrefix(a, "flightrec") && !seen[alertByAnchor(a, seen)] {
			t.Errorf("runbooks.md: section #%s has no alert", a)
		}
	}
}

func alertByAnchor(anchor string, alerts map[string]bool) string {
	for a := range alerts {
		if strings.ToLower(a) == anchor {
			return a
		}
	}
	return ""
}

// checkDumpURL checks that the dump link honours the external label, falls
// back to DefaultDumpBaseURL, and names the alert's container.
func checkDumpURL(t *testing.T, r rule) {
	t.Helper()
	u := r.Annotations["dump_url"]
	for _, want := range []string{"$externalLabels.flightrec_dump_base_url", DefaultDumpBaseURL, "/dump"} {
		if !strings.Contains(u, want) {
			t.Errorf("%s: dump_url lacks %q: %s", r.Alert, want, u)
		}
	}
	if r.group != "flightrec-syscalls" {
		return
	}
	for _, want := range []string{
		"namespace={{ $labels.namespace | urlquery }}",
		"pod={{ $labels.pod | urlquery }}",
		"container={{ $labels.container | urlquery }}",
		"cgroup={{ $labels.container | urlquery }}",
	} {
		if !strings.Contains(u, want) {
			t.Errorf("%s: dump_url lacks %q", r.Alert, want)
		}
	}
	// The labels the link uses must survive the aggregation.
	if !strings.Contains(r.Expr, "namespace, pod, container") {
		t.Errorf("%s: expr does not keep namespace, pod, container", r.Alert)
	}
}

// runbookAnchors returns the GitHub anchors of the level-2 headings of
// runbooks.md.
func runbookAnchors(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile("runbooks.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if h, ok := strings.CutPrefix(line, "## "); ok {
			anchors[githubAnchor(h)] = true
		}
	}
	return anchors
}

// githubAnchor is the fragment GitHub gives a Markdown heading.
func githubAnchor(h string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(h)) {
		switch {
		case unicode.IsLetter(r), unicode.IsDigit(r), r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func TestGithubAnchor(t *testing.T) {
	for h, want := range map[string]string{
		"FlightrecPermissionDenied": "flightrecpermissiondenied",
		"The dump_url annotation":   "the-dump_url-annotation",
		"Reading a dump":            "reading-a-dump",
	} {
		if got := githubAnchor(h); got != want {
			t.Errorf("githubAnchor(%q) = %q, want %q", h, got, want)
		}
	}
}

// TestEveryAlertIsUnitTested checks that the promtool tests make every alert
// fire and not fire, and compare its annotations in full.
func TestEveryAlertIsUnitTested(t *testing.T) {
	b, err := os.ReadFile(testsFile)
	if err != nil {
		t.Fatal(err)
	}
	var ut unitTests
	if err := yaml.Unmarshal(b, &ut); err != nil {
		t.Fatalf("%s: %v", testsFile, err)
	}
	if !slices.Equal(ut.RuleFiles, []string{rulesFile}) {
		t.Errorf("%s: rule_files %q, want [%s]", testsFile, ut.RuleFiles, rulesFile)
	}
	firing, silent := map[string]bool{}, map[string]bool{}
	rules := map[string]rule{}
	for _, r := range loadRules(t) {
		rules[r.Alert] = r
	}
	for _, tc := range ut.Tests {
		for _, at := range tc.AlertRuleTest {
			r, ok := rules[at.Alertname]
			if !ok {
				t.Errorf("%s: test %q: unknown alert %q", testsFile, tc.Name, at.Alertname)
				continue
			}
			if len(at.ExpAlerts) == 0 {
				silent[at.Alertname] = true
			}
			for _, ea := range at.ExpAlerts {
				firing[at.Alertname] = true
				if ea.ExpLabels["severity"] != r.Labels["severity"] {
					t.Errorf("%s: test %q at %s: severity %q, rule has %q", testsFile, tc.Name, at.EvalTime, ea.ExpLabels["severity"], r.Labels["severity"])
				}
				for _, a := range []string{"summary", "description", "runbook_url", "dump_url"} {
					if ea.ExpAnnotations[a] == "" {
						t.Errorf("%s: test %q at %s: %s not checked", testsFile, tc.Name, at.EvalTime, a)
					}
				}
				if u := ea.ExpAnnotations["dump_url"]; strings.Contains(u, "{{") || !strings.Contains(u, "/dump") {
					t.Errorf("%s: test %q at %s: dump_url %q is not an expanded link", testsFile, tc.Name, at.EvalTime, u)
				}
			}
		}
	}
	for name := range rules {
		if !firing[name] {
			t.Errorf("%s: no test where %s fires", testsFile, name)
		}
		if !silent[name] {
			t.Errorf("%s: no test where %s stays silent", testsFile, name)
		}
	}
}

func TestReadmeListsEveryAlert(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range loadRules(t) {
		if !strings.Contains(string(b), "| `"+r.Alert+"` |") {
			t.Errorf("README.md: %s is not in the table of alerts", r.Alert)
		}
	}
}

func TestRulesWithDumpBaseURL(t *testing.T) {
	n := strings.Count(string(Rules), "{{ else }}"+DefaultDumpBaseURL+"{{ end -}}")
	if want := len(loadRules(t)); n != want {
		t.Fatalf("%s: %d dump_url fallbacks to %s, want one per alert (%d)", rulesFile, n, DefaultDumpBaseURL, want)
	}
	got := string(RulesWithDumpBaseURL("https://flightrec.example.com/"))
	if strings.Contains(got, DefaultDumpBaseURL) {
		t.Errorf("default base left in the rewritten rules")
	}
	if c := strings.Count(got, "{{ else }}https://flightrec.example.com{{ end -}}"); c != n {
		t.Errorf("rewritten base found %d times, want %d", c, n)
	}
	promtool(t, "check", "rules", writeTemp(t, rulesFile, []byte(got)))
}

func TestPromtoolCheckRules(t *testing.T) {
	promtool(t, "check", "rules", rulesFile)
}

func TestPromtoolTestRules(t *testing.T) {
	promtool(t, "test", "rules", testsFile)
}

// promtool runs promtool with args, skipping the test when it is not
// installed.
func promtool(t *testing.T, args ...string) {
	t.Helper()
	path := testenv.RequireTool(t, "promtool", "Debian package prometheus")
	out, err := exec.Command(path, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
