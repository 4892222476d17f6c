// Package recorder_test runs the real exporter against real workloads in
// kubelet-shaped cgroups and checks what /dump shows. Needs root.
package recorder_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// setup makes a private cgroup tree with one kubelet-shaped container
// cgroup and an exporter recording below the tree.
func setup(t *testing.T, args ...string) (*testenv.Cgroups, *testenv.Exporter, string) {
	t.Helper()
	cg := testenv.NewCgroups(t)
	container := cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
	e := testenv.StartExporter(t, append([]string{"--recorder.cgroup-parent=" + cg.Parent}, args...)...)
	return cg, e, container
}

func dumpJSON(t *testing.T, e *testenv.Exporter, cgroup string, extra string) dump.RingDump {
	t.Helper()
	body := e.MustGet(t, "/dump?format=json&cgroup="+url.QueryEscape(cgroup)+extra)
	var d dump.RingDump
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatalf("decoding dump: %v\n%s", err, body)
	}
	return d
}

func dumpText(t *testing.T, e *testenv.Exporter, cgroup string) string {
	t.Helper()
	return e.MustGet(t, "/dump?cgroup="+url.QueryEscape(cgroup))
}

// expectInOrder checks that each predicate matches an entry after the one
// matched by the previous predicate.
func expectInOrder(t *testing.T, entries []dump.Entry, steps ...step) {
	t.Helper()
	i := 0
	for _, s := range steps {
		found := false
		for ; i < len(entries); i++ {
			if s.match(&entries[i]) {
				found = true
				i++
				break
			}
		}
		if !found {
			t.Fatalf("no %s after the previous steps; dump:\n%s", s.what, render(entries))
		}
	}
}

type step struct {
	what  string
	match func(e *dump.Entry) bool
}

func call(name, paramsRe, ret string) step {
	re := regexp.MustCompile(paramsRe)
	return step{
		what: fmt.Sprintf("%s(%s) = %s", name, paramsRe, ret),
		match: func(e *dump.Entry) bool {
			return e.Kind == dump.KindSyscall && e.Syscall == name && re.MatchString(e.Params) && (ret == "" || e.RetText == ret)
		},
	}
}

func render(entries []dump.Entry) string {
	var b strings.Builder
	_ = dump.WriteText(&b, entries, false)
	return b.String()
}

func TestShellSessionInOrder(t *testing.T) {
	cg, e, container := setup(t)
	file := filepath.Join(t.TempDir(), "f")
	out, code := cg.Run(t, container, nil, "/bin/sh", "-c", fmt.Sprintf("ls /; echo hi > %s; cat %s", file, file))
	if code != 0 || !strings.HasSuffix(out, "hi\n") {
		t.Fatalf("workload: exit %d, output %q", code, out)
	}
	d := dumpJSON(t, e, container, "")
	expectInOrder(t, d.Entries,
		call("execve", `^"/bin/sh", \["/bin/sh", "-c", "ls /; echo hi`, "0"),
		call("execve", `^"/usr/bin/ls", \["ls", "/"\]`, "0"),
		call("openat", `^AT_FDCWD, "/", O_RDONLY\|O_NONBLOCK\|O_CLOEXEC\|O_DIRECTORY`, ""),
		call("getdents64", `^3, `, ""),
		call("exit_group", `^0$`, "?"),
		call("openat", `^AT_FDCWD, "`+regexp.QuoteMeta(file)+`", O_WRONLY\|O_CREAT\|O_TRUNC, 0666`, ""),
		call("write", `^1, "hi\\n", 3$`, "3"),
		call("execve", `^"/usr/bin/cat", \["cat", "`+regexp.QuoteMeta(file)+`"\]`, "0"),
		call("write", `^1, "hi\\n", 3$`, "3"),
		call("exit_group", `^0$`, "?"),
	)
	last := d.Entries[len(d.Entries)-1]
	if last.Kind != dump.KindExit || last.ExitCode == nil || *last.ExitCode != 0 {
		t.Errorf("last entry %+v, want the shell's exit with 0", last)
	}
}

func TestUnprivilegedWriteToEtcPasswd(t *testing.T) {
	cg, e, container := setup(t)
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	_, code := cg.Run(t, container, nobody, "/bin/sh", "-c", "echo x >> /etc/passwd; echo x >> /etc/passwd; exit 1")
	if code != 1 {
		t.Fatalf("workload exit %d, want 1", code)
	}
	text := dumpText(t, e, container)
	lines := regexp.MustCompile(`(?m)^.* openat +\(AT_FDCWD, "/etc/passwd", O_WRONLY\|O_CREAT\|O_APPEND, 0666\) +-13 EACCES .*$`).FindAllString(text, -1)
	if len(lines) != 2 {
		t.Fatalf("want 2 failed opens of /etc/passwd, got %d:\n%s", len(lines), text)
	}
	exit := regexp.MustCompile(`(?m)^.* exit_group +\(1\) +\? .*$`).FindStringIndex(text)
	second := strings.LastIndex(text, lines[1])
	if exit == nil || exit[0] < second {
		t.Fatalf("exit_group(1) missing or before the failed opens:\n%s", text)
	}
	d := dumpJSON(t, e, container, "&failed=true&syscall=openat")
	n := 0
	for _, en := range d.Entries {
		if en.Errno == "EACCES" && strings.Contains(en.Params, `"/etc/passwd"`) {
			n++
		}
	}
	if n != 2 {
		t.Errorf("failed=true&syscall=openat: %d EACCES opens of /etc/passwd, want 2:\n%s", n, render(d.Entries))
	}
}

func TestShortLivedProcessKeepsWholeStory(t *testing.T) {
	cg, e, container := setup(t)
	_, code := cg.Run(t, container, nil, "/bin/cat", "/nonexistent/app/config.yaml")
	if code != 1 {
		t.Fatalf("cat exit %d, want 1", code)
	}
	d := dumpJSON(t, e, container, "")
	// Before execve the ring holds only the forked child preparing to exec.
	first := -1
	for i, en := range d.Entries {
		if en.Syscall == "execve" {
			first = i
			break
		}
	}
	if first < 0 {
		t.Fatalf("no execve in the ring:\n%s", render(d.Entries))
	}
	expectInOrder(t, d.Entries[first:],
		call("execve", `^"/bin/cat", \["/bin/cat", "/nonexistent/app/config.yaml"\]`, "0"),
		call("openat", `^AT_FDCWD, "/nonexistent/app/config.yaml", O_RDONLY`, "-2 ENOENT"),
		call("exit_group", `^1$`, "?"),
	)
	span := d.Entries[len(d.Entries)-1].Time.Sub(d.Entries[first].Time)
	t.Logf("execve to exit: %s, %d records", span, len(d.Entries)-first)
}

func TestConnectRefusedShowsAddress(t *testing.T) {
	cg, e, container := setup(t)
	addr := testenv.FreePort(t) // nobody listens there now
	host, port, _ := strings.Cut(addr, ":")
	_, code := cg.Run(t, container, nil, "/bin/bash", "-c", fmt.Sprintf("exec 3<>/dev/tcp/%s/%s", host, port))
	if code == 0 {
		t.Fatalf("connect to %s succeeded; want refused", addr)
	}
	d := dumpJSON(t, e, container, "&syscall=connect")
	expectInOrder(t, d.Entries, call("connect", `^\d+, `+regexp.QuoteMeta(addr)+`, 16$`, "-111 ECONNREFUSED"))
}

func TestKilledBySIGSEGV(t *testing.T) {
	cg, e, container := setup(t)
	_, code := cg.Run(t, container, nil, "/bin/sh", "-c", "kill -SEGV $$")
	if code != -1 {
		t.Fatalf("exit code %d, want death by signal", code)
	}
	d := dumpJSON(t, e, container, "")
	expectInOrder(t, d.Entries,
		call("kill", `^\d+, SIGSEGV$`, "0"),
		step{"SIGSEGV delivery", func(en *dump.Entry) bool {
			return en.Kind == dump.KindSignal && en.Signal == "SIGSEGV" && strings.Contains(en.Params, "default action")
		}},
		step{"death by SIGSEGV", func(en *dump.Entry) bool {
			return en.Kind == dump.KindExit && en.Signal == "SIGSEGV" && strings.HasPrefix(en.Params, "killed by SIGSEGV")
		}},
	)
}

// A process whose threads all leave at once (exit_group) ends once: one
// "exited with N", after the exit of every one of its threads. Kernels
// before group_dead in sched_process_exit do not say which thread is the
// last; there the exporter works it out, and this test checks it does on
// each kernel of the matrix (test/kernels runs this suite).
func TestProcessExitsOnceAfterItsThreads(t *testing.T) {
	// The six runs' ~2,000 records must all be in the ring when it is
	// read: a large ring from the start, not one promoted at the next tick
	// (under emulation, the first run was overwritten before it was).
	cg, e, container := setup(t, "--recorder.small-ring-size=4096")
	workload := testenv.Build(t, "./test/workload")
	const runs, threads = 6, 8
	for i := 0; i < runs; i++ {
		if out, code := cg.Run(t, container, nil, workload, "threads-exit", strconv.Itoa(threads), "7"); code != 7 {
			t.Fatalf("run %d: exit code %d, want 7\n%s", i, code, out)
		}
	}
	type process struct{ ends, threadExits, lastExit, end int }
	procs := map[uint32]*process{}
	entries := dumpJSON(t, e, container, "").Entries
	for i, en := range entries {
		if en.Kind != dump.KindExit {
			continue
		}
		p := procs[en.PID]
		if p == nil {
			p = &process{}
			procs[en.PID] = p
		}
		p.lastExit = i
		if en.ExitCode == nil || *en.ExitCode != 7 {
			t.Errorf("pid %d tid %d: %s, want exited with 7", en.PID, en.TID, en.Params)
		}
		if strings.HasPrefix(en.Params, "thread ") {
			p.threadExits++
		} else {
			p.ends++
			p.end = i
		}
	}
	if len(procs) != runs {
		t.Fatalf("exits of %d processes in the dump, want %d:\n%s", len(procs), runs, render(entries))
	}
	for pid, p := range procs {
		switch {
		case p.ends != 1:
			t.Errorf("pid %d: %d process exits, want 1", pid, p.ends)
		case p.end != p.lastExit:
			t.Errorf("pid %d: the process exit is not after all its threads' exits", pid)
		case p.threadExits < threads:
			t.Errorf("pid %d: %d thread exits, want at least %d", pid, p.threadExits, threads)
		}
	}
	if t.Failed() {
		t.Logf("dump:\n%s", render(entries))
	}
}

func TestNoisyNeighbourDoesNotEvictQuietOne(t *testing.T) {
	cg, e, quiet := setup(t)
	noisy := cg.Make(t, testenv.KubeletPath("burstable", testenv.RandomUID(), testenv.RandomHex(32)))
	workload := testenv.Build(t, "./test/workload")
	if out, code := cg.Run(t, quiet, nil, workload, "getppid", "5"); code != 0 {
		t.Fatalf("quiet workload: %d %s", code, out)
	}
	if out, code := cg.Run(t, noisy, nil, workload, "getppid", "10000000"); code != 0 {
		t.Fatalf("noisy workload: %d %s", code, out)
	}
	n := dumpJSON(t, e, noisy, "&limit=1")
	if n.Written < 10_000_000 || n.Overwritten == 0 {
		t.Fatalf("noisy ring: written %d overwritten %d; want ≥ 10M written and overwrites", n.Written, n.Overwritten)
	}
	q := dumpJSON(t, e, quiet, "&syscall=getppid")
	if len(q.Entries) != 5 {
		t.Fatalf("quiet ring has %d getppid calls, want 5:\n%s", len(q.Entries), render(q.Entries))
	}
	if q.Overwritten != 0 {
		t.Errorf("quiet ring overwritten %d, want 0", q.Overwritten)
	}
}

// patternWrite is the i-th buffer of the workload's write-pattern.
func patternWrite(i int) string {
	return "flightrec-" + strconv.Itoa(i) + "-" + strings.Repeat("x", i%32)
}

func TestDumpsDuringFullSpeedWritesAreNeverTorn(t *testing.T) {
	const ringSize = 1024
	// One size class: the ring is never promoted while this test reads it
	// (TestPromotionKeepsEverything in bpf/ covers that).
	cg, e, container := setup(t, fmt.Sprintf("--recorder.ring-size=%d", ringSize), fmt.Sprintf("--recorder.small-ring-size=%d", ringSize))
	workload := testenv.Build(t, "./test/workload")
	cmd := cg.Command(t, container, workload, "write-pattern", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pattern := regexp.MustCompile(`^(\d+), "(flightrec-(\d+)-x*)", (\d+)$`)
	// Wait until the writer has wrapped the ring once.
	var firstOverwritten uint64
	for deadline := time.Now().Add(30 * time.Second); firstOverwritten == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the writer did not wrap its ring within 30s")
		}
		firstOverwritten = dumpJSON(t, e, container, "&limit=1").Overwritten
	}
	tornBefore, _ := e.Scrape(t).Value(t, "flightrec_recorder_records_torn_total", nil)
	lastOverwritten := firstOverwritten
	var torn uint64
	checked := 0
	patternFD := int64(-1) // the fd write-pattern writes to, from its first record
	for i := 0; i < 40; i++ {
		d := dumpJSON(t, e, container, "")
		torn += d.Torn
		if d.Overwritten < lastOverwritten {
			t.Fatalf("dump %d: overwritten went back from %d to %d", i, lastOverwritten, d.Overwritten)
		}
		lastOverwritten = d.Overwritten
		// Every record the ring held when the dump began is either shown
		// or counted as torn (records from the incident tape come on top).
		fromRing := uint64(0)
		for _, en := range d.Entries {
			if en.Source == dump.SourceRing {
				fromRing++
			}
		}
		if got := fromRing + d.Torn; got != ringSize {
			t.Fatalf("dump %d: %d entries of the ring + %d torn = %d, want the ring's %d records", i, fromRing, d.Torn, got, ringSize)
		}
		var prevSeq, prevNs uint64
		prevN := -1
		for _, en := range d.Entries {
			if en.Seq <= prevSeq {
				t.Fatalf("dump %d: seq %d after %d", i, en.Seq, prevSeq)
			}
			prevSeq = en.Seq
			if en.Syscall != "write" || en.PID != uint32(cmd.Process.Pid) {
				continue
			}
			m := pattern.FindStringSubmatch(en.Params)
			if patternFD < 0 && m != nil {
				patternFD = int64(en.Args[0])
			}
			if int64(en.Args[0]) != patternFD {
				continue // the Go runtime's own writes (netpoll wakeups)
			}
			if m == nil {
				t.Fatalf("dump %d: garbled write record: %q", i, en.Params)
			}
			// The buffer (payload), the count (args[2]) and the return
			// value must all come from the same write.
			n, _ := strconv.Atoi(m[3])
			want := patternWrite(n)
			if m[2] != want || en.Args[2] != uint64(len(want)) {
				t.Fatalf("dump %d: record mixes two writes: %q args %v, want buffer %q of %d bytes", i, en.Params, en.Args, want, len(want))
			}
			if en.Finished && (en.Ret == nil || *en.Ret != int64(len(want))) {
				t.Fatalf("dump %d: write of %d bytes returned %v", i, len(want), en.Ret)
			}
			// Order by what the kernel wrote (the write's own number and its
			// entry time), not by the reader's sequence numbers.
			if prevN >= 0 && (n <= prevN || en.MonotonicNs < prevNs) {
				t.Fatalf("dump %d: write %d at %d after write %d at %d: out of order", i, n, en.MonotonicNs, prevN, prevNs)
			}
			prevN, prevNs = n, en.MonotonicNs
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no write records checked")
	}
	if lastOverwritten <= firstOverwritten {
		t.Fatalf("overwritten stayed at %d while the writer ran", firstOverwritten)
	}
	tornAfter, _ := e.Scrape(t).Value(t, "flightrec_recorder_records_torn_total", nil)
	if uint64(tornAfter-tornBefore) != torn {
		t.Errorf("flightrec_recorder_records_torn_total grew by %v, the dumps reported %d torn", tornAfter-tornBefore, torn)
	}
	t.Logf("checked %d records in 40 dumps; %d dropped as torn; overwritten %d", checked, torn, lastOverwritten)
}

func TestIndexAndErrors(t *testing.T) {
	cg, e, container := setup(t)
	if _, code := cg.Run(t, container, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	var idx dump.Index
	if err := json.Unmarshal([]byte(e.MustGet(t, "/dump?format=json")), &idx); err != nil {
		t.Fatal(err)
	}
	var found *dump.RingInfo
	for i := range idx.Rings {
		if idx.Rings[i].Cgroup == container {
			found = &idx.Rings[i]
		}
	}
	if found == nil {
		t.Fatalf("index lacks %s: %+v", container, idx)
	}
	if found.Runtime != "containerd" || len(found.ContainerID) != 64 || found.PodUID == "" || found.Records == 0 || found.Oldest == nil {
		t.Errorf("index row %+v: want containerd identity, records and time span", *found)
	}
	if !strings.Contains(e.MustGet(t, "/dump"), container) {
		t.Error("text index lacks the container")
	}
	for _, c := range []struct {
		query string
		code  int
		msg   string
	}{
		{"/dump?cgroup=/no/such/cgroup", 404, "not found"},
		{"/dump?cgroup=" + url.QueryEscape(cg.Parent), 404, "has no ring"},
		{"/dump?cgroup=" + url.QueryEscape(container) + "&limit=abc", 400, "limit"},
		{"/dump?cgroup=" + url.QueryEscape(container) + "&limit=99999999", 400, "limit"},
		{"/dump?cgroup=" + url.QueryEscape(container) + "&syscall=nosuchcall", 400, "nosuchcall"},
		{"/dump?cgroup=" + url.QueryEscape(container) + "&since=yesterday", 400, "since"},
		{"/dump?cgroup=" + url.QueryEscape(container) + "&format=xml", 400, "format"},
		{"/dump?bogus=1", 400, "unknown parameter"},
		{"/dump?cgroup=relative/path", 400, "absolute"},
	} {
		code, body := e.Get(t, c.query)
		if code != c.code || !strings.Contains(body, c.msg) {
			t.Errorf("GET %s: %d %q, want %d mentioning %q", c.query, code, body, c.code, c.msg)
		}
	}
}

func TestPreviousRunOfARestartedUnit(t *testing.T) {
	cg, e, _ := setup(t)
	unit := cg.Make(t, "/system.slice/app.service")
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}
	if _, code := cg.Run(t, unit, nobody, "/bin/sh", "-c", "cat "+secret+"; exit 1"); code != 1 {
		t.Fatalf("first run exit %d, want 1", code)
	}
	// systemd restarts the unit in a fresh cgroup of the same path.
	cg.Remove(t, unit)
	var prev dump.RingDump
	for deadline := time.Now().Add(30 * time.Second); ; {
		code, body := e.Get(t, "/dump?format=json&previous=true&cgroup="+url.QueryEscape(unit))
		if code == 200 {
			if err := json.Unmarshal([]byte(body), &prev); err != nil {
				t.Fatal(err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no frozen ring 30s after removal: %d %s", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := e.Get(t, "/dump?cgroup="+url.QueryEscape(unit)); code != 404 || !strings.Contains(body, "previous=true") {
		t.Errorf("live dump of the removed cgroup: %d %q, want 404 pointing at previous=true", code, body)
	}
	cg.Make(t, "/system.slice/app.service")
	if _, code := cg.Run(t, unit, nil, "/bin/true"); code != 0 {
		t.Fatal("second run failed")
	}
	if prev.FrozenAt == nil || prev.Ended != "exited with 1" {
		t.Errorf("frozen ring: frozen_at %v ended %q, want exited with 1", prev.FrozenAt, prev.Ended)
	}
	expectInOrder(t, prev.Entries,
		call("openat", `^AT_FDCWD, "`+regexp.QuoteMeta(secret)+`", O_RDONLY`, "-13 EACCES"),
		call("exit_group", `^1$`, "?"),
	)
	cur := dumpJSON(t, e, unit, "")
	if cur.FrozenAt != nil {
		t.Error("the live dump is marked frozen")
	}
	expectInOrder(t, cur.Entries, call("execve", `^"/bin/true"`, "0"))
	for _, en := range cur.Entries {
		if strings.Contains(en.Params, secret) {
			t.Fatalf("the live dump shows the first run: %s", en.Params)
		}
	}
	var idx dump.Index
	if err := json.Unmarshal([]byte(e.MustGet(t, "/dump?format=json")), &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Frozen) != 1 || idx.Frozen[0].Cgroup != unit || idx.Frozen[0].Ended != "exited with 1" {
		t.Errorf("index frozen rings: %+v", idx.Frozen)
	}
}

func TestExporterInATrackedContainerDoesNotRecordItself(t *testing.T) {
	cg := testenv.NewCgroups(t)
	self := cg.Make(t, "/exporter.scope")
	app := cg.Make(t, "/app.scope")
	// As in a DaemonSet pod: its own pid namespace (it is pid 1 there) and a
	// cgroup below the recorded parent.
	wrapper := []string{"unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "sh", "-c",
		"echo $$ > " + filepath.Join(cg.Mount, self, "cgroup.procs") + ` && exec "$0" "$@"`}
	e := testenv.StartExporterIn(t, wrapper, "--recorder.cgroup-parent="+cg.Parent)
	if _, code := cg.Run(t, app, nil, "/bin/true"); code != 0 {
		t.Fatal("true failed")
	}
	for i := 0; i < 5; i++ {
		e.MustGet(t, "/metrics")
		e.MustGet(t, "/dump?cgroup="+url.QueryEscape(app))
	}
	var idx dump.Index
	if err := json.Unmarshal([]byte(e.MustGet(t, "/dump?format=json")), &idx); err != nil {
		t.Fatal(err)
	}
	var rings []string
	for _, r := range idx.Rings {
		rings = append(rings, r.Cgroup)
	}
	if len(rings) != 1 || rings[0] != app {
		t.Errorf("rings %v, want only %s: the exporter must not record itself", rings, app)
	}
}

// The kernel decides scope by walking from a task's cgroup up to the
// parent's level with loads, up to 16 levels, and asks a helper beyond.
// Both ways record what is below the parent and nothing beside it.
func TestScopeAtEveryDepth(t *testing.T) {
	cg := testenv.NewCgroups(t)
	parent := cg.Make(t, "in")
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+parent)
	nested := func(depth int) string {
		parts := make([]string, depth)
		for i := range parts {
			parts[i] = fmt.Sprintf("d%d", i+1)
		}
		return strings.Join(parts, "/")
	}
	inside := map[string]string{}
	for _, depth := range []int{1, 4, 16, 17, 20} {
		inside[cg.Make(t, "in/"+nested(depth))] = fmt.Sprintf("depth %d", depth)
	}
	outside := []string{cg.Make(t, "out/"+nested(4)), cg.Make(t, "out/"+nested(20))}
	for c := range inside {
		if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
			t.Fatalf("/bin/true in %s failed", c)
		}
	}
	for _, c := range outside {
		if _, code := cg.Run(t, c, nil, "/bin/true"); code != 0 {
			t.Fatalf("/bin/true in %s failed", c)
		}
	}
	for c, what := range inside {
		d := dumpJSON(t, e, c, "")
		expectInOrder(t, d.Entries,
			call("execve", `^"/bin/true"`, "0"),
			call("exit_group", `^0$`, "?"),
		)
		t.Logf("%s below the parent: %d records", what, len(d.Entries))
	}
	for _, c := range outside {
		if code, body := e.Get(t, "/dump?cgroup="+url.QueryEscape(c)); code != 404 || !strings.Contains(body, "has no ring") {
			t.Errorf("cgroup %s beside the parent: GET /dump %d, want 404 \"has no ring\" (not recorded)\n%s", c, code, body)
		}
	}
}
