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

// defaultPinPath is --bpf.pin-path's default.
const defaultPinPath = "/sys/fs/bpf/flightrec"

func TestDemoShowsTheCrash(t *testing.T) {
	testenv.RequireRoot(t)
	bin := testenv.Build(t, "./cmd/flightrec_exporter")
	_, pinnedBefore := os.Stat(defaultPinPath)
	cmd := exec.Command("bash", filepath.Join(testenv.ModuleRoot(t), "test", "demo", "demo.sh"), bin)
	cmd.Env = append(os.Environ(), "DEMO_ADDR="+testenv.FreePort(t))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	// A node's exporter pins there; the demo must leave nothing behind.
	if _, err := os.Stat(defaultPinPath); os.IsNotExist(pinnedBefore) && err == nil {
		t.Errorf("the demo left maps pinned at %s", defaultPinPath)
		_ = os.RemoveAll(defaultPinPath)
	}
	sections := splitSections(string(out))
	// The failed-openat dump alone: the full dump shows the same records again.
	failed, ok := sections["failed=true&syscall=openat"]
	if !ok {
		t.Fatalf("demo output has no failed-openat dump:\n%s", out)
	}
	denied := regexp.MustCompile(`(?m)^.* sh +openat +\(AT_FDCWD, "/etc/passwd", O_WRONLY\|O_CREAT\|O_APPEND, 0666\) +-13 EACCES .*$`)
	if n := len(denied.FindAllString(failed, -1)); n != 2 {
		t.Errorf("failed-openat dump shows %d denied opens of /etc/passwd, want the workload's 2:\n%s", n, failed)
	}
	// The exit as the recorder saw it, not the script's own echo of $?.
	last, ok := sections["limit=12"]
	if !ok {
		t.Fatalf("demo output has no limit=12 dump:\n%s", out)
	}
	exit := regexp.MustCompile(`(?m)^\S+ +\d+ +\d+ +\d+ +sh +\+\+\+ +exited with 1 *-?$`)
	if !exit.MatchString(last) || !regexp.MustCompile(`(?m) sh +exit_group +\(1\) +\? `).MatchString(last) {
		t.Errorf("the last records lack exit_group(1) and the recorded \"+++ exited with 1\":\n%s", last)
	}
}

// splitSections splits the demo's output at its "### " headers and keys
// each section by the query of the curl command in its header ("" for the
// full index, the header itself for the others).
func splitSections(out string) map[string]string {
	sections := map[string]string{}
	header, body := "", []string{}
	flush := func() {
		if header == "" {
			return
		}
		key := header
		if _, q, ok := strings.Cut(header, "&"); ok {
			key = strings.TrimSuffix(q, "'")
		}
		sections[key] = strings.Join(body, "\n")
	}
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "### ") {
			flush()
			header, body = l, nil
			continue
		}
		body = append(body, l)
	}
	flush()
	return sections
}
