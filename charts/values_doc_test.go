package charts

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
	"sigs.k8s.io/yaml"
)

// documentedValue is a key of values.yaml with a "# --" comment.
type documentedValue struct {
	Path    string
	Default any
}

// documentedValues walks values.yaml and returns its documented keys, in
// order, and the paths of the leaves (scalars and empty collections) that
// no documented key covers.
func documentedValues(t *testing.T) (docs []documentedValue, undocumented []string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var root yamlv3.Node
	if err := yamlv3.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	var walk func(n *yamlv3.Node, path string, covered bool)
	walk = func(n *yamlv3.Node, path string, covered bool) {
		if n.Kind == yamlv3.MappingNode && len(n.Content) > 0 {
			for i := 0; i < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				p := strings.TrimPrefix(path+"."+k.Value, ".")
				doc := strings.Contains(k.HeadComment, "# --")
				if doc {
					var def any
					if err := v.Decode(&def); err != nil {
						t.Fatal(err)
					}
					docs = append(docs, documentedValue{Path: p, Default: def})
				}
				walk(v, p, covered || doc)
			}
			return
		}
		if !covered {
			undocumented = append(undocumented, path)
		}
	}
	walk(root.Content[0], "", false)
	return docs, undocumented
}

var readmeRow = regexp.MustCompile("(?m)^\\| `([A-Za-z0-9_.]+)` \\| `(.*?)` \\| (.+) \\|$")

// TestValuesDocumented checks that every value has a "# --" comment in
// values.yaml and a row in the README's values table with its default.
func TestValuesDocumented(t *testing.T) {
	docs, undocumented := documentedValues(t)
	for _, p := range undocumented {
		t.Errorf("values.yaml: %s has no \"# --\" comment (nor has a parent)", p)
	}
	readme, err := os.ReadFile(filepath.Join(chartDir, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(readme), "\n## Values\n")
	if !ok {
		t.Fatal("README.md has no Values section")
	}
	rows := map[string]string{}
	for _, m := range readmeRow.FindAllStringSubmatch(table, -1) {
		rows[m[1]] = m[2]
	}
	for _, d := range docs {
		cell, ok := rows[d.Path]
		if !ok {
			js, _ := json.Marshal(d.Default)
			t.Errorf("README.md values table lacks | `%s` | `%s` | … |", d.Path, js)
			continue
		}
		delete(rows, d.Path)
		var got any
		if err := yaml.Unmarshal([]byte(cell), &got); err != nil {
			t.Errorf("README.md: default of %s: %v", d.Path, err)
			continue
		}
		// Compare as JSON values (numbers as float64 on both sides).
		want := jsonValue(t, d.Default)
		if !reflect.DeepEqual(jsonValue(t, got), want) {
			t.Errorf("README.md: default of %s is %s, values.yaml says %v", d.Path, cell, want)
		}
	}
	for p := range rows {
		t.Errorf("README.md documents %s, which values.yaml does not have", p)
	}
}

func jsonValue(t *testing.T, v any) any {
	t.Helper()
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	return out
}
