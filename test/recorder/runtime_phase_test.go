package recorder_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// A container runtime's init runs in the container's cgroup before the
// entrypoint, and fails syscalls of its own. The recorder keeps that setup
// apart: marked in the dump, not counted in the metrics. The container's
// ending is its entrypoint's, not that of a child it left behind. The
// workload plays runc's init (its name, its entry into the cgroup, its
// failures, its execve of the entrypoint); test/runtime does it with runc.
func TestRuntimeSetupIsNotTheApplications(t *testing.T) {
	cg, e, container := setup(t)
	workload := testenv.Build(t, "./test/workload")
	procs := filepath.Join(cg.Mount, container, "cgroup.procs")
	const setupFailures = 5
	cmd := exec.Command(workload, "as-runtime", procs, fmt.Sprint(setupFailures),
		"/bin/sh", "-c", "cat /nonexistent/app.conf; sleep 0.3 & exit 3")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("entrypoint: %v, want exit 3\n%s", err, out)
	}
	pid := uint32(cmd.Process.Pid)

	d := dumpJSON(t, e, container, "")
	if d.MainPID != pid {
		t.Errorf("main_pid %d, want the entrypoint's %d", d.MainPID, pid)
	}
	setupOpens, starts := 0, 0
	afterStart := false
	for _, en := range d.Entries {
		if en.AppStarts {
			starts++
			afterStart = true
		}
		switch {
		case en.Comm == "runc:[2:INIT]" && en.Phase != dump.PhaseRuntime:
			t.Errorf("the runtime's %s is in phase %q", en.Syscall, en.Phase)
		case en.Comm != "runc:[2:INIT]" && en.Phase != dump.PhaseApp:
			t.Errorf("the application's %s (%s) is in phase %q", en.Syscall, en.Comm, en.Phase)
		case strings.Contains(en.Params, "/nonexistent/runtime-setup"):
			setupOpens++
			if afterStart {
				t.Errorf("a setup open is shown after the application starts")
			}
		}
	}
	if setupOpens != setupFailures || starts != 1 {
		t.Errorf("%d setup opens and %d application starts in the dump, want %d and 1:\n%s",
			setupOpens, starts, setupFailures, render(d.Entries))
	}
	if text := dumpText(t, e, container); !strings.Contains(text, fmt.Sprintf("--- application starts: pid %d ", pid)) {
		t.Errorf("no line where the application starts:\n%s", text)
	}

	// Only the application's failures are counted (cat's open, and the
	// dynamic loader's probes), not the runtime's.
	appFailures := 0
	for _, en := range d.Entries {
		if en.Phase == dump.PhaseApp && en.Syscall == "openat" && en.Errno == "ENOENT" {
			appFailures++
		}
	}
	m := e.Scrape(t)
	if v, _ := m.Value(t, "flightrec_syscall_errors_total",
		map[string]string{"container": container, "syscall": "openat", "errno": "ENOENT"}); v != float64(appFailures) || appFailures == 0 {
		t.Errorf("openat ENOENT counted %v times, want the application's %d (the runtime's %d are setup)", v, appFailures, setupFailures)
	}

	// The entrypoint exited with 3; the sleep it left behind exited
	// with 0 after it. The container ended as its entrypoint did.
	cg.Remove(t, container)
	var prev dump.RingDump
	testenv.WaitFor(t, "the container's frozen ring", func() bool {
		code, body := e.Get(t, "/dump?format=json&previous=true&cgroup="+url.QueryEscape(container))
		return code == 200 && json.Unmarshal([]byte(body), &prev) == nil
	})
	if prev.Ended != "exited with 3" || prev.MainPID != pid {
		t.Errorf("frozen ring: ended %q, main pid %d; want exited with 3 and %d", prev.Ended, prev.MainPID, pid)
	}
}
