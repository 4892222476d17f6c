// Package faults_test checks that the exporter fails or degrades with one
// clear line when the host lacks what it needs. Needs root.
package faults_test

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/kube/kubetest"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// errorLines returns the ERROR lines of a log.
func errorLines(log string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, "level=ERROR") || strings.HasPrefix(l, "flightrec_exporter: error:") {
			out = append(out, l)
		}
	}
	return out
}

func expectFailure(t *testing.T, code int, log string, want ...string) {
	t.Helper()
	if code == 0 {
		t.Fatalf("exporter exited 0; want a failure:\n%s", log)
	}
	lines := errorLines(log)
	if len(lines) != 1 {
		t.Fatalf("want exactly one error line, got %d:\n%s", len(lines), log)
	}
	for _, w := range want {
		if !strings.Contains(lines[0], w) {
			t.Errorf("error line %q does not mention %q", lines[0], w)
		}
	}
}

func TestPortInUse(t *testing.T) {
	testenv.RequireRoot(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	code, log := testenv.RunExporterToExit(t, nil, nil, "--web.listen-address="+l.Addr().String(), "--bpf.pin-path=")
	expectFailure(t, code, log, "address already in use")
}

func TestNotRoot(t *testing.T) {
	testenv.RequireRoot(t) // to switch to nobody
	code, log := testenv.RunExporterToExit(t, nil, &syscall.Credential{Uid: 65534, Gid: 65534},
		"--web.listen-address="+testenv.FreePort(t), "--bpf.pin-path=")
	expectFailure(t, code, log, "CAP_BPF")
}

func TestNoBTF(t *testing.T) {
	testenv.RequireRoot(t)
	code, log := testenv.RunExporterToExit(t, testenv.Unshared("mount -t tmpfs none /sys/kernel/btf"), nil,
		"--web.listen-address="+testenv.FreePort(t), "--bpf.pin-path=")
	expectFailure(t, code, log, "BTF", "CONFIG_DEBUG_INFO_BTF")
}

func TestNoCgroup2(t *testing.T) {
	testenv.RequireRoot(t)
	mount, err := cgroups.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	// A cgroup v1-only host: no cgroup2 mount at all.
	code, log := testenv.RunExporterToExit(t, testenv.Unshared("umount -l "+mount), nil,
		"--web.listen-address="+testenv.FreePort(t), "--bpf.pin-path=")
	expectFailure(t, code, log, "cgroup2", "cgroup v2")
}

func TestNoTracefsIsFine(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.NewCgroups(t)
	// The recorder attaches through BTF, not tracefs/debugfs.
	e := testenv.StartExporterIn(t, testenv.Unshared("mount -t tmpfs none /sys/kernel/tracing && mount -t tmpfs none /sys/kernel/debug"),
		"--recorder.cgroup-parent="+cg.Parent)
	expectRecorded(t, cg, e, "without tracefs")
}

func TestNoBPFFSDegrades(t *testing.T) {
	testenv.RequireRoot(t)
	cg := testenv.NewCgroups(t)
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+t.TempDir())
	if !strings.Contains(e.Log(), "not on a bpf filesystem") || !strings.Contains(e.Log(), "level=WARN") {
		t.Errorf("no warning about the missing bpffs:\n%s", e.Log())
	}
}

func TestBadFlags(t *testing.T) {
	testenv.RequireRoot(t)
	basicAuth := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(basicAuth, []byte("basic_auth_users:\n  sre: $2y$10$x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := kubetest.KubeconfigFor(t, kubetest.FreeAddr(t))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--recorder.ring-size=1000"}, "power of two"},
		{[]string{"--kubeconfig=" + kubeconfig, "--web.config.file=" + basicAuth}, "cannot be combined with --dump.authz=kubernetes"},
		{[]string{"--recorder.max-containers=0"}, "max containers"},
		{[]string{"--recorder.small-ring-size=100"}, "small ring size 100: must be a power of two"},
		{[]string{"--recorder.ring-size=16"}, "ring size 16: must be a power of two between 32 and"},
		{[]string{"--recorder.spare-rings=0"}, "spare rings 0: must be at least 1"},
		{[]string{"--recorder.memory-budget=1MiB"}, "memory budget 1048576 bytes: less than"},
		{[]string{"--recorder.memory-budget=lots"}, "recorder.memory-budget"},
		{[]string{"--recorder.capture-bytes=4096"}, "capture bytes"},
		{[]string{"--recorder.cgroup-parent=/cgroup.procs"}, "--recorder.cgroup-parent"},
		{[]string{"--collector.syscalls.watch=fsync,nosuchcall"}, "nosuchcall"},
		{[]string{"--dump.namespaces=Bad_Name"}, "--dump.namespaces"},
		{[]string{"--dump.enabled=maybe"}, "dump.enabled"},
		{[]string{"--dump.redaction=maybe"}, "dump.redaction"},
		{[]string{"--dump.redact=(unclosed"}, "--dump.redact"},
		{[]string{"--dump.authz=maybe"}, "dump.authz"},
		{[]string{"--dump.authz=kubernetes"}, "--dump.authz=kubernetes needs the Kubernetes API"},
		{[]string{"--dump.authz.deny-ttl=-1s"}, "--dump.authz.deny-ttl"},
		{[]string{"--kubernetes.cri-endpoint=/nonexistent/cri.sock"}, "--kubernetes.cri-endpoint"},
		{[]string{"--no-such-flag"}, "no-such-flag"},
		{[]string{"--recorder.incident-errnos=EACCES,EBOGUS"}, `EBOGUS`},
		{[]string{"--recorder.incident-context=33"}, "--recorder.incident-context 33: must be between 0 and 32"},
		{[]string{"--recorder.incident-first=0"}, "--recorder.incident-first 0: must be at least 1"},
		{[]string{"--recorder.incident-latest=-1"}, "--recorder.incident-latest -1: must be at least 1"},
		{[]string{"--recorder.incident-rate=0"}, "--recorder.incident-rate 0: must be positive"},
		{[]string{"--recorder.runtime-comms=ru*nc"}, `--recorder.runtime-comms: runtime command name`},
	} {
		args := append([]string{"--web.listen-address=" + testenv.FreePort(t), "--bpf.pin-path="}, c.args...)
		code, log := testenv.RunExporterToExit(t, nil, nil, args...)
		expectFailure(t, code, log, c.want)
	}
}

// slowClient sends a request and never reads the answer, with a tiny
// receive buffer so that the server's writes block.
func slowClient(t *testing.T, addr, path string) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := conn.Write([]byte("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestConcurrentDumpsAndSlowClientsAreBounded(t *testing.T) {
	cg := testenv.NewCgroups(t)
	// A ring so big that its JSON dump (tens of MB) cannot hide in socket buffers.
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--dump.max-concurrent=2", "--web.write-timeout=10s",
		"--recorder.ring-size=65536", "--recorder.small-ring-size=65536", "--recorder.max-containers=2")
	c := cg.Make(t, "/noisy.scope")
	workload := testenv.Build(t, "./test/workload")
	if out, code := cg.Run(t, c, nil, workload, "write-pattern", "70000"); code != 0 {
		t.Fatalf("workload: %s", out)
	}
	big := "/dump?format=json&cgroup=" + c
	slow := []net.Conn{slowClient(t, e.Addr, big), slowClient(t, e.Addr, big)}
	// Both slots are held by clients that do not read... (deadlines are
	// generous: the kernel matrix runs this under full emulation, where
	// encoding a 65536-record dump takes tens of seconds)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		if v, _ := e.Scrape(t).Value(t, "flightrec_dump_in_progress", nil); v == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the slow clients' dumps never held both slots")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// ...so the next dump is refused, and /metrics still answers.
	code, body := e.Get(t, "/dump?limit=1&cgroup="+c)
	if code != 429 || !strings.Contains(body, "too many dumps") {
		t.Fatalf("third concurrent dump: %d %q, want 429", code, body)
	}
	// /metrics is never blocked by dumps.
	e.MustGet(t, "/metrics")
	// The write timeout cuts the slow clients off and frees their slots.
	for deadline := time.Now().Add(2 * time.Minute); ; {
		code, _ = e.Get(t, "/dump?limit=1&cgroup="+c)
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dumps still refused (%d) long after the write timeout", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, s := range slow {
		s.Close()
	}
}

// pinnedMaps are the maps the exporter pins (bpf.pinnedMaps).
var pinnedMaps = []string{"small_rings", "large_rings", "rings", "containers", "free_slots", "errors", "latencies", "stats", "inflight"}

// defaultPin is --bpf.pin-path's default.
const defaultPin = "/sys/fs/bpf/flightrec"

// pinsOf lists which of the pinned maps exist at the default pin path in
// the mount namespace of process pid.
func pinsOf(pid int) (present, missing []string) {
	for _, name := range pinnedMaps {
		if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "root", defaultPin, name)); err == nil {
			present = append(present, name)
		} else {
			missing = append(missing, name)
		}
	}
	return present, missing
}

// mountNamespace is a private mount namespace that lives as long as the
// test (held by a sleeping process), where a plain tmpfs covers
// /sys/fs/bpf: a host that mounted no bpffs. enter runs a command in it.
func mountNamespace(t *testing.T) (enter []string) {
	t.Helper()
	holder := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c",
		"mount -t tmpfs none /sys/fs/bpf && echo ready && exec sleep 3600")
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	line := make([]byte, 6)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "ready\n" {
		t.Fatalf("the mount namespace did not come up: %q %v", line, err)
	}
	// --root and --wd: entering a mount namespace moves a process to its
	// root; the holder's is the test's own, which is a chroot in the
	// kernel matrix's guests.
	return []string{"nsenter", "--target=" + strconv.Itoa(holder.Process.Pid), "--mount", "--root", "--wd", "--"}
}

// A host that mounted no bpffs: with the default pin path, the exporter
// mounts one at /sys/fs/bpf, as Cilium and Tetragon do, pins there, and a
// restarted exporter continues the tape.
func TestDefaultPinPathWithoutBPFFSMountsOne(t *testing.T) {
	cg := testenv.NewCgroups(t)
	ns := mountNamespace(t)
	e := testenv.StartExporterIn(t, ns, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+defaultPin)
	if !strings.Contains(e.Log(), "mounted one for the pins") || strings.Contains(e.Log(), "level=WARN") {
		t.Errorf("want the mount logged and no warning:\n%s", e.Log())
	}
	if present, missing := pinsOf(e.PID()); len(missing) != 0 {
		t.Errorf("pinned %v, missing %v", present, missing)
	}
	c := cg.Make(t, "/app.scope")
	if _, code := cg.Run(t, c, nil, "/bin/sh", "-c", "cat /nonexistent/before-the-restart; true"); code != 0 {
		t.Fatal("sh failed")
	}
	e.Kill()
	e2 := testenv.StartExporterIn(t, ns, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+defaultPin)
	if !strings.Contains(e2.Log(), "continuing the rings") {
		t.Errorf("the restarted exporter did not find the pins:\n%s", e2.Log())
	}
	if body := e2.MustGet(t, "/dump?cgroup="+c); !strings.Contains(body, "/nonexistent/before-the-restart") {
		t.Errorf("the tape did not survive the restart:\n%s", body)
	}
}

// Without CAP_SYS_ADMIN (the chart's least-privilege setting) the exporter
// cannot mount a bpffs: it says so once and records without pins.
func TestDefaultPinPathWithoutBPFFSOrMountRights(t *testing.T) {
	cg := testenv.NewCgroups(t)
	wrapper := append(mountNamespace(t), withCaps(t, "0", chartCaps)...)
	e := testenv.StartExporterIn(t, wrapper, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+defaultPin)
	if n := strings.Count(e.Log(), "level=WARN"); n != 1 || !strings.Contains(e.Log(), "mounting one failed") {
		t.Errorf("want one warning that no bpffs could be mounted, got %d:\n%s", n, e.Log())
	}
	if present, _ := pinsOf(e.PID()); len(present) != 0 {
		t.Errorf("maps %v pinned on a tmpfs", present)
	}
	expectRecorded(t, cg, e, "without bpffs")
}

func TestDefaultPinPathWithBPFFS(t *testing.T) {
	cg := testenv.NewCgroups(t)
	// A private bpffs at /sys/fs/bpf: the pins vanish with the namespace.
	e := testenv.StartExporterIn(t, testenv.Unshared("mount -t bpf bpf /sys/fs/bpf"),
		"--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+defaultPin)
	if strings.Contains(e.Log(), "bpf filesystem") || strings.Contains(e.Log(), "level=WARN") {
		t.Errorf("warning with a bpffs mounted:\n%s", e.Log())
	}
	if _, missing := pinsOf(e.PID()); len(missing) != 0 {
		t.Errorf("maps %v not pinned under %s", missing, defaultPin)
	}
}

// On a node the exporter can start before kubelet makes /kubepods: it
// waits for --recorder.cgroup-parent, says so once, and records from the
// moment the parent appears.
func TestWaitsForTheCgroupParent(t *testing.T) {
	cg := testenv.NewCgroups(t)
	parent := cg.Parent + "/kubepods"
	e := testenv.LaunchExporter(t, "--recorder.cgroup-parent="+parent)
	testenv.WaitFor(t, "the exporter to say it waits for the parent", func() bool {
		return strings.Contains(e.Log(), "does not exist yet: waiting for it")
	})
	if lines := errorLines(e.Log()); len(lines) != 0 {
		t.Fatalf("a missing parent is an error: %v", lines)
	}
	cg.Make(t, "/kubepods")
	e.WaitReady(t)
	c := cg.Make(t, "/kubepods/app.scope")
	if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	if body := e.MustGet(t, "/dump?cgroup="+c); !strings.Contains(body, "execve") {
		t.Errorf("nothing recorded once the parent appeared:\n%s", body)
	}
	if n := strings.Count(e.Log(), "waiting for it"); n != 1 {
		t.Errorf("the wait was logged %d times, want once:\n%s", n, e.Log())
	}
}

// expectRecorded runs /bin/true in a new container cgroup and fails the test
// when e's dump of it lacks the execve (when is the condition the test set
// up, for the message).
func expectRecorded(t *testing.T, cg *testenv.Cgroups, e *testenv.Exporter, when string) {
	t.Helper()
	c := cg.Make(t, "/app.scope")
	if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	if body := e.MustGet(t, "/dump?cgroup="+c); !strings.Contains(body, "execve") {
		t.Errorf("no execve recorded %s:\n%s", when, body)
	}
}
