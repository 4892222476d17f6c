// Package demo_test runs `make demo`'s script as a newcomer would, with the
// exporter's default flags. Needs root.
package demo_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

func TestDemoShowsTheCrash(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.Build(t, "./cmd/flightrec_exporter")
	cmd := exec.Command("bash", filepath.Join(testenv.ModuleRoot(t), "test", "demo", "demo.sh"), bin)
	cmd.Env = append(os.Environ(), "DEMO_ADDR="+testenv.FreePort(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	text := string(out)
	denied := regexp.MustCompile(`openat +\(AT_FDCWD, "/etc/passwd", O_WRONLY\|O_CREAT\|O_APPEND, 0666\) +-13 EACCES`)
	if n := len(denied.FindAllString(text, -1)); n < 2 || !strings.Contains(text, "exited with 1") {
		t.Fatalf("demo output lacks the two denied opens (%d) or the exit:\n%s", n, text)
	}
}
