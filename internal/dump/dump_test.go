package dump

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/redact"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	arch := syscalls.ArchAMD64
	for _, c := range []struct {
		query string
		want  func(q Query) bool
		err   string
	}{
		{"", func(q Query) bool { return q.Cgroup == "" && q.Format == "text" }, ""},
		{"format=json", func(q Query) bool { return q.Format == "json" }, ""},
		{"cgroup=/a/b.scope&syscall=openat,connect&failed=true&limit=10&since=5m", func(q Query) bool {
			return q.Cgroup == "/a/b.scope" && len(q.Syscalls) == 2 && q.Syscalls[257] && q.Syscalls[42] &&
				q.Failed && q.Limit == 10 && q.Since.Equal(now.Add(-5*time.Minute))
		}, ""},
		{"cgroup=/a&since=2026-11-27T11:00:00Z", func(q Query) bool { return q.Since.Equal(now.Add(-time.Hour)) }, ""},
		{"cgroup=/a&syscall=openat,nope", nil, `syscall "nope"`},
		{"cgroup=/a&limit=0", nil, "limit"},
		{"cgroup=/a&limit=-3", nil, "limit"},
		{"cgroup=/a&limit=2000000", nil, "limit"},
		{"cgroup=/a&failed=maybe", nil, "failed"},
		{"cgroup=/a&since=-5m", nil, "positive"},
		{"cgroup=/a&since=last+week", nil, "since"},
		{"cgroup=/a&format=yaml", nil, "format"},
		{"cgroup=a/b", nil, "absolute"},
		{"cgroup=/a/../../etc", nil, "absolute"},
		{"cgroup=/a&cgroup=/b", nil, "2 times"},
		{"pod=x&nonsense=1", nil, "unknown parameter"},
		{"failed=true", nil, "add cgroup="},
	} {
		v, _ := url.ParseQuery(c.query)
		q, err := ParseQuery(v, arch, now)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err %v, want %q", c.query, err, c.err)
			}
			continue
		}
		if err != nil || !c.want(q) {
			t.Errorf("%q: got %+v, %v", c.query, q, err)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"cgroup=/a&limit=5", "syscall=openat,,", "since=1h&cgroup=/x", "%zz", "limit=9999999999999999999",
		"namespace=team-a&pod=web-0&container=app&previous=2", "pod=web-0&previous=true&format=json",
		"namespace=kube-system&pod=coredns-5d78c9869d-abcde&failed=true&syscall=connect",
		"namespace=Bad_Name&pod=x", "pod=-x", "container=app", "cgroup=/x&pod=y", "previous=101&cgroup=/x",
		"previous=0&pod=p", "cgroup=/a/../b", "cgroup=/..", "cgroup=/a/..", "cgroup=..%2Fa", "cgroup=/a/..b/.../c",
		"cgroup=/kubepods.slice/x.scope&since=2006-01-02T15:04:05Z&failed=true&syscall=openat,connect",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		q, err := ParseQuery(v, syscalls.ArchAMD64, time.Now())
		if err != nil {
			return
		}
		if q.Limit < 0 || q.Limit > MaxLimit {
			t.Fatalf("accepted limit %d", q.Limit)
		}
		if q.Previous < 0 || q.Previous > MaxPrevious {
			t.Fatalf("accepted previous %d", q.Previous)
		}
		if q.Format != "text" && q.Format != "json" {
			t.Fatalf("accepted format %q", q.Format)
		}
		// A cgroup path is joined to the cgroup2 mount: it must not leave it.
		if q.Cgroup != "" {
			if !strings.HasPrefix(q.Cgroup, "/") {
				t.Fatalf("accepted relative cgroup %q", q.Cgroup)
			}
			for _, part := range strings.Split(q.Cgroup, "/") {
				if part == ".." {
					t.Fatalf("accepted cgroup %q with a .. component", q.Cgroup)
				}
			}
			if q.Pod != "" || q.Namespace != "" || q.Container != "" {
				t.Fatalf("accepted both cgroup %q and pod %q/%q/%q", q.Cgroup, q.Namespace, q.Pod, q.Container)
			}
		}
		// Names end up in API lookups and labels: Kubernetes names only.
		for what, name := range map[string]string{"namespace": q.Namespace, "pod": q.Pod, "container": q.Container} {
			if name == "" {
				continue
			}
			if q.Pod == "" {
				t.Fatalf("accepted %s %q without pod", what, name)
			}
			if what == "container" && name == containers.SandboxContainer {
				continue // the sandbox's label
			}
			if len(name) > 253 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-.") != "" ||
				strings.HasPrefix(name, "-") || strings.HasSuffix(name, "-") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
				t.Fatalf("accepted %s %q: not a Kubernetes name", what, name)
			}
		}
		if q.Cgroup == "" && q.Pod == "" && (q.Previous != 0 || q.Limit != 0 || q.Failed || q.Syscalls != nil || !q.Since.IsZero()) {
			t.Fatalf("accepted filters without a ring: %+v", q)
		}
	})
}

func TestDecodeEvents(t *testing.T) {
	clock := bpf.Clock{}
	arch := syscalls.ArchAMD64
	for _, c := range []struct {
		rec    bpf.Record
		params string
		check  func(e Entry) bool
	}{
		{bpf.Record{Nr: bpf.EventProcessExit, Args: [6]uint64{1 << 8, 1}, Finished: true}, "exited with 1",
			func(e Entry) bool { return e.Kind == KindExit && *e.ExitCode == 1 }},
		{bpf.Record{Nr: bpf.EventProcessExit, Args: [6]uint64{11 | 0x80, 1}, Finished: true}, "killed by SIGSEGV (core dumped)",
			func(e Entry) bool { return e.Signal == "SIGSEGV" && e.CoreDumped && e.ExitCode == nil }},
		{bpf.Record{Nr: bpf.EventProcessExit, Args: [6]uint64{0, 0}, Finished: true}, "thread exited with 0", nil},
		{bpf.Record{Nr: bpf.EventSignal, Args: [6]uint64{11, 1, 0, 0x10, 0}, Finished: true},
			"SIGSEGV {si_signo=SIGSEGV, si_code=SEGV_MAPERR, si_addr=0x10} (default action)", nil},
		{bpf.Record{Nr: bpf.EventSignal, Args: [6]uint64{17, 1, 0, 42, 0x5555}, Finished: true},
			"SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=42}", nil},
		{bpf.Record{Nr: bpf.EventOOMKill, Finished: true}, "chosen by the OOM killer", nil},
		{bpf.Record{Nr: 257, Args: [6]uint64{uint64(0xffffffffffffff9c), 1, 0o1101, 0o666}, Str1: []byte("/etc/passwd"), Ret: -13, Finished: true, EnterNs: 5, ExitNs: 9},
			`AT_FDCWD, "/etc/passwd", O_WRONLY|O_CREAT|O_TRUNC, 0666`,
			func(e Entry) bool {
				return e.Errno == "EACCES" && e.RetText == "-13 EACCES" && *e.DurationNs == 4 && e.Failed()
			}},
		{bpf.Record{Nr: 202, Finished: false}, "",
			func(e Entry) bool { return e.Ret == nil && e.DurationNs == nil && e.RetText == "?" && !e.Failed() }},
	} {
		e := Decode(arch, clock, &c.rec)
		if c.params != "" && e.Params != c.params {
			t.Errorf("nr %d: params %q, want %q", c.rec.Nr, e.Params, c.params)
		}
		if c.check != nil && !c.check(e) {
			t.Errorf("nr %d: entry %+v", c.rec.Nr, e)
		}
	}
}

func TestWriteText(t *testing.T) {
	arch := syscalls.ArchAMD64
	clock := bpf.Clock{}
	recs := []bpf.Record{
		{Nr: 257, Comm: "sh", PID: 5, TID: 5, Args: [6]uint64{uint64(0xffffffffffffff9c), 1, 1}, Str1: []byte("/etc/x"), Ret: -2, Finished: true, EnterNs: 1000, ExitNs: 3500},
		{Nr: 202, Comm: "worker\n", PID: 5, TID: 6},
		{Nr: 231, Comm: "sh", PID: 5, TID: 5, Args: [6]uint64{1}},
	}
	var entries []Entry
	for i := range recs {
		entries = append(entries, Decode(arch, clock, &recs[i]))
	}
	var b strings.Builder
	if err := WriteText(&b, entries, false); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("got:\n%s", b.String())
	}
	for i, want := range []string{
		`openat +\(AT_FDCWD, "/etc/x", O_WRONLY\) +-2 ENOENT +2\.5µs$`,
		`worker\\n +futex .* \? +unfinished$`,
		`exit_group +\(1\) +\? +-$`,
	} {
		if !matches(want, lines[i+1]) {
			t.Errorf("line %d = %q, want /%s/", i+1, lines[i+1], want)
		}
	}
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func TestRedactedLeavesTheRecordAlone(t *testing.T) {
	red, err := redact.New([]string{redact.Builtin})
	if err != nil {
		t.Fatal(err)
	}
	rec := &bpf.Record{Nr: 59, Finished: true, Args: [6]uint64{1, 2, 3}, Str1: []byte("/bin/tool"),
		Argv: [][]byte{[]byte("tool"), []byte("--password"), []byte("hunter2")},
		Buf:  []byte("Cookie: a=b")}
	got := Redacted(red, rec)
	if string(got.Argv[2]) != redact.Mark || string(got.Buf) != "Cookie: "+redact.Mark || string(got.Str1) != "/bin/tool" {
		t.Errorf("redacted: %q %q %q", got.Argv, got.Buf, got.Str1)
	}
	if string(rec.Argv[2]) != "hunter2" || string(rec.Buf) != "Cookie: a=b" {
		t.Errorf("the original record changed: %q %q", rec.Argv, rec.Buf)
	}
	e := Decode(syscalls.ArchAMD64, bpf.Clock{}, got)
	if !strings.Contains(e.Params, `"--password", "[redacted]"`) || strings.Contains(e.Params, "hunter2") {
		t.Errorf("decoded: %s", e.Params)
	}
	if Redacted(nil, rec) != rec {
		t.Error("a nil redactor copied the record")
	}
}
