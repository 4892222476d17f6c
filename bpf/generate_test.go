package bpf

import (
	"github.com/flightrec/flightrec_exporter/internal/testenv"

	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestGeneratedObjectsUpToDate recompiles recorder.bpf.c with the
// //go:generate line of gen.go and fails when the committed objects differ.
func TestGeneratedObjectsUpToDate(t *testing.T) {
	testenv.RequireTool(t, "clang", "checks the committed BPF objects against recorder.bpf.c")
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^//go:generate go tool bpf2go (.*)$`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no bpf2go line in gen.go")
	}
	args := splitArgs(string(m[1]))
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bpf2go: %v\n%s", err, out)
	}
	generated, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(generated) == 0 {
		t.Fatal("bpf2go generated nothing")
	}
	for _, f := range generated {
		want, _ := os.ReadFile(f)
		got, err := os.ReadFile(filepath.Base(f))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run `make generate` and commit the result", filepath.Base(f))
		}
	}
}

// splitArgs splits a go:generate line, honouring double quotes.
func splitArgs(s string) []string {
	var out []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
		case r == ' ' && !quoted:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
