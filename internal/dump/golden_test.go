package dump

import (
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
	"github.com/flightrec/flightrec_exporter/internal/golden"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// The golden tests run the /dump handler over a fake recorder and a cgroup
// tree made of plain directories: no root, no kernel. `go test
// ./internal/dump -update` rewrites testdata/*.golden after a deliberate
// change of the output.

// fakeSource is a recorder whose rings hold the records a test gives.
type fakeSource struct {
	cfg       bpf.Config
	rings     []bpf.Ring
	records   map[uint32][]bpf.Record // by slot, oldest first
	untracked []uint64
}

func (f *fakeSource) Rings() ([]bpf.Ring, []uint64, error) { return f.rings, f.untracked, nil }
func (f *fakeSource) Config() bpf.Config                   { return f.cfg }

func (f *fakeSource) Read(cgroupID uint64, slot uint32) (bpf.Snapshot, error) {
	for _, r := range f.rings {
		if r.Slot == slot && r.CgroupID == cgroupID {
			return bpf.Snapshot{Ring: r, Records: append([]bpf.Record(nil), f.records[slot]...)}, nil
		}
	}
	return bpf.Snapshot{}, fmt.Errorf("ring %d: not cgroup %d's", slot, cgroupID)
}

func (f *fakeSource) Record(slot uint32, seq uint64) (bpf.Record, bool) {
	for _, r := range f.records[slot] {
		if r.Seq == seq {
			return r, true
		}
	}
	return bpf.Record{}, false
}

// add puts a ring for cgroupID in the next slot with recs, numbering them.
func (f *fakeSource) add(cgroupID uint64, recs ...bpf.Record) {
	slot := uint32(len(f.rings))
	for i := range recs {
		recs[i].Seq = uint64(i + 1)
	}
	f.rings = append(f.rings, bpf.Ring{CgroupID: cgroupID, Slot: slot, Written: uint64(len(recs)), Capacity: 256})
	if f.records == nil {
		f.records = map[uint32][]bpf.Record{}
	}
	f.records[slot] = recs
}

// directory is a Kubernetes directory of fixed pods.
type directory struct {
	byID     map[string]containers.Labels
	restarts map[string]int
}

func (d directory) Container(id string) (containers.Labels, bool) { l, ok := d.byID[id]; return l, ok }
func (d directory) Restarts(id string) (int, bool)                { n, ok := d.restarts[id]; return n, ok }
func (d directory) Pod(uid string) (string, string, bool)         { return "shop", "web-0", uid == podUID }
func (d directory) Containers() []containers.Labels {
	var out []containers.Labels
	for _, l := range d.byID {
		out = append(out, l)
	}
	return out
}

const (
	podUID  = "6b1f0c2e-3c55-4a1c-9d5e-1f2a3b4c5d6e"
	appID   = "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"
	proxyID = "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2"
	oldID   = "c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3"
)

// t0 is the wall-clock time of the monotonic instant mono0.
var (
	t0    = time.Date(2026, 11, 27, 5, 20, 43, 0, time.UTC)
	mono0 = uint64(1000 * time.Second)
)

func podPath(id string) string {
	u := strings.ReplaceAll(podUID, "-", "_")
	return "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + u + ".slice/cri-containerd-" + id + ".scope"
}

// rec builds a finished syscall record: at is µs after mono0, took its
// duration in µs.
func rec(name string, at, took uint64, ret int64, args ...uint64) bpf.Record {
	nr, ok := syscalls.ArchAMD64.Number(name)
	if !ok {
		panic("no syscall " + name)
	}
	r := bpf.Record{Finished: true, EnterNs: mono0 + at*1000, PID: 4242, TID: 4242, CPU: 1, Nr: int32(nr), Ret: ret, Comm: "sh"}
	r.ExitNs = r.EnterNs + took*1000
	copy(r.Args[:], args)
	return r
}

func exited(at uint64, code int) bpf.Record {
	r := bpf.Record{Finished: true, EnterNs: mono0 + at*1000, PID: 4242, TID: 4242, CPU: 1, Nr: bpf.EventProcessExit, Comm: "sh"}
	r.ExitNs = r.EnterNs
	r.Args[0], r.Args[1] = uint64(code)<<8, bpf.ExitGroupDead
	return r
}

// earlier moves records back by d, into a run before the current one.
func earlier(d time.Duration, recs ...bpf.Record) []bpf.Record {
	for i := range recs {
		recs[i].EnterNs -= uint64(d)
		if recs[i].ExitNs != 0 {
			recs[i].ExitNs -= uint64(d)
		}
	}
	return recs
}

func sockaddrIn(ip [4]byte, port uint16) []byte {
	b := make([]byte, 16)
	binary.LittleEndian.PutUint16(b, 2) // AF_INET
	binary.BigEndian.PutUint16(b[2:], port)
	copy(b[4:], ip[:])
	return b
}

const atFDCWD = uint64(1<<64 - 100)

// fixture is a node with one pod (containers app and proxy, and an earlier
// run of app that exited 2) and a systemd service, with their rings.
type fixture struct {
	h   *Handler
	ids map[uint64]string // cgroup id → its name in golden files
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	root := t.TempDir()
	svc := "/system.slice/billing.service"
	for _, p := range []string{podPath(appID), podPath(proxyID), svc} {
		if err := os.MkdirAll(filepath.Join(root, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	hier := cgroups.OpenTree(root)
	resolver := containers.NewResolver(hier, "/", time.Minute)
	resolver.SetDirectory(directory{
		byID: map[string]containers.Labels{
			appID:   {Namespace: "shop", Pod: "web-0", Container: "app"},
			proxyID: {Namespace: "shop", Pod: "web-0", Container: "proxy"},
			oldID:   {Namespace: "shop", Pod: "web-0", Container: "app"},
		},
		restarts: map[string]int{appID: 1, oldID: 0, proxyID: 0},
	})
	id := func(p string) uint64 {
		n, err := hier.ID(p)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	appCg, proxyCg, svcCg := id(podPath(appID)), id(podPath(proxyID)), id(svc)
	if _, err := resolver.Update(t0, nil); err != nil {
		t.Fatal(err)
	}

	// The container runtime's setup: runc's init looks for something it
	// does not need, then starts the entrypoint.
	setupStat := rec("newfstatat", 0, 2, -2, atFDCWD, 0x4000, 0x4100, 0)
	setupStat.Str1 = []byte("/run/containerd/io.containerd.runtime.v2.task")
	setupClose := rec("close", 5, 1, -9, 17)
	runcSetup := earlier(200*time.Microsecond, setupStat, setupClose)
	for i := range runcSetup {
		runcSetup[i].Comm, runcSetup[i].Setup = "runc:[2:INIT]", true
	}
	execve := rec("execve", 0, 310, 0, 0x5000, 0x5100, 0x5200)
	execve.Comm, execve.Setup = "runc:[2:INIT]", true
	execve.Str1 = []byte("/bin/sh")
	execve.Argv = [][]byte{[]byte("sh"), []byte("-c"), []byte("cat /etc/shadow; exit 1")}
	open := rec("openat", 400, 3, -13, atFDCWD, 0x6000, 0)
	open.Str1, open.Comm = []byte("/etc/shadow"), "cat"
	msg := "cat: /etc/shadow: Permission denied\n"
	write := rec("write", 420, 9, int64(len(msg)), 2, 0x7000, uint64(len(msg)))
	write.Buf, write.Comm = []byte(msg), "cat"
	exitGroup := rec("exit_group", 450, 0, 0, 1)
	exitGroup.Finished, exitGroup.ExitNs = false, 0

	connect := rec("connect", 100, 40, -111, 3, 0x8000, 16)
	connect.Sockaddr, connect.Comm, connect.PID, connect.TID = sockaddrIn([4]byte{10, 96, 0, 10}, 5432), "envoy", 4300, 4301
	read := rec("read", 430, 0, 0, 7, 0x9000, 4096)
	read.Finished, read.ExitNs, read.Comm, read.PID, read.TID = false, 0, "envoy", 4300, 4300

	sleep := rec("clock_nanosleep", 50, 0, 0, 1, 0, 0xa000, 0)
	sleep.Finished, sleep.ExitNs, sleep.Comm, sleep.PID, sleep.TID = false, 0, "billing", 900, 900

	src := &fakeSource{cfg: bpf.Config{RingSize: 4096, SmallRingSize: 256, MaxRings: 1024}, untracked: []uint64{77}}
	src.add(appCg, runcSetup[0], runcSetup[1], execve, open, write, exitGroup, exited(460, 1))
	src.rings[0].MainPID, src.rings[0].AppSeq = 4242, 3
	// The proxy's ring turned over long ago: the refused connect and the
	// socket call before it are kept on its incident tape.
	socket := rec("socket", 90, 5, 3, 2, 1, 0)
	socket.Comm, socket.PID, socket.TID = "envoy", 4300, 4301
	socket.FromTape, connect.FromTape, connect.Incident = true, true, true
	src.add(proxyCg, socket, connect, read)
	src.records[1][0].Seq, src.records[1][1].Seq, src.records[1][2].Seq = 1953299, 1953300, 3906510
	src.rings[1].Written, src.rings[1].Incidents = 3906510, 1
	src.add(svcCg, sleep)

	store := frozen.NewStore(frozen.Limits{Retention: time.Hour, MaxRings: 8, MaxBytes: 1 << 20}, nil)
	oldOpen := rec("openat", 10, 2, -2, atFDCWD, 0x6000, 0)
	oldOpen.Str1 = []byte("/etc/app/config.yaml")
	restarts := 0
	oldRun := earlier(70*time.Second, oldOpen, exited(20, 2))
	oldRun[0].Seq, oldRun[1].Seq = 1, 2
	store.Freeze(bpf.Snapshot{Ring: bpf.Ring{CgroupID: 99, Written: 2, Capacity: 256}, Records: oldRun},
		podPath(oldID), containers.Labels{Namespace: "shop", Pod: "web-0", Container: "app"}, &restarts, t0.Add(-time.Minute))
	// The service's run before this one: systemd restarts it in the same cgroup.
	oldSleep := rec("clock_nanosleep", 5, 0, 0, 1, 0, 0xa000, 0)
	oldSleep.Finished, oldSleep.ExitNs, oldSleep.Comm, oldSleep.PID, oldSleep.TID = false, 0, "billing", 800, 800
	killed := exited(8, 0)
	killed.Args[0], killed.PID, killed.TID, killed.Comm = 9, 800, 800, "billing" // SIGKILL
	store.Freeze(bpf.Snapshot{Ring: bpf.Ring{CgroupID: 98, Written: 2, Capacity: 256}, Records: earlier(130*time.Second, oldSleep, killed)},
		svc, containers.Labels{}, nil, t0.Add(-2*time.Minute))

	clock := bpf.FixedClock(mono0, t0)
	h := &Handler{Source: src, Cgroups: hier, Resolver: resolver, Store: store, Parent: "/", Node: "node-1",
		BaseURL: "http://node-1:9747", Arch: syscalls.ArchAMD64, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Clock: func() bpf.Clock { return clock }, Now: func() time.Time { return t0.Add(time.Second) }}
	return &fixture{h: h, ids: map[uint64]string{appCg: "APP", proxyCg: "PROXY", svcCg: "SERVICE"}}
}

// get serves one request and returns its status and body, with the cgroup
// ids (inode numbers of the temporary tree) replaced by names.
func (f *fixture) get(t *testing.T, query string) (int, string) {
	t.Helper()
	w := httptest.NewRecorder()
	f.h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/dump"+query, nil))
	body := w.Body.String()
	for id, name := range f.ids {
		body = regexp.MustCompile(`\b`+strconv.FormatUint(id, 10)+`\b`).ReplaceAllString(body, "<"+name+"-ID>")
	}
	return w.Code, body
}

func TestDumpGolden(t *testing.T) {
	app := "?cgroup=" + podPath(appID)
	for _, c := range []struct {
		name, query string
		code        int
	}{
		{"index", "", 200},
		{"index-json", "?format=json", 200},
		{"ring", app, 200},
		{"ring-json", app + "&format=json", 200},
		{"ring-failed", app + "&failed=true", 200},
		{"ring-syscall", app + "&syscall=openat,write", 200},
		{"ring-limit", app + "&limit=2", 200},
		{"ring-since", app + "&since=2026-11-27T05:20:43.000420Z", 200},
		{"ring-previous", "?cgroup=/system.slice/billing.service&previous=true", 200},
		{"ring-no-previous", app + "&previous=true", 404},
		{"pod", "?namespace=shop&pod=web-0", 200},
		{"pod-json", "?namespace=shop&pod=web-0&format=json", 200},
		{"pod-container", "?namespace=shop&pod=web-0&container=proxy", 200},
		{"pod-previous", "?namespace=shop&pod=web-0&container=app&previous=true", 200},
		{"service", "?cgroup=/system.slice/billing.service", 200},
		{"unknown-cgroup", "?cgroup=/system.slice/nope.service", 404},
		{"unknown-pod", "?namespace=shop&pod=nope", 404},
		{"bad-limit", app + "&limit=0", 400},
		{"ring-tape", "?cgroup=" + podPath(proxyID), 200},
		{"ring-tape-json", "?cgroup=" + podPath(proxyID) + "&format=json", 200},
		{"ring-around", "?cgroup=" + podPath(proxyID) + "&around=1953300", 200},
		{"ring-around-gone", "?cgroup=" + podPath(proxyID) + "&around=5", 404},
		{"ring-around-never", "?cgroup=" + podPath(proxyID) + "&around=99999999", 404},
		{"bad-around", "?cgroup=" + podPath(proxyID) + "&around=x", 400},
		{"pod-around-ambiguous", "?namespace=shop&pod=web-0&around=3", 400},
		// Both runs of app hold a record 2: the newest (live) one is shown.
		{"pod-around", "?namespace=shop&pod=web-0&container=app&around=2", 200},
		// An exemplar names its run: the earlier run of app (cgroup id 99).
		{"pod-run-around", "?namespace=shop&pod=web-0&container=app&cgroup_id=99&around=1", 200},
		{"pod-run-unknown", "?namespace=shop&pod=web-0&container=app&cgroup_id=12345", 404},
		{"bad-cgroup-id", "?namespace=shop&pod=web-0&cgroup_id=x", 400},
		{"bad-cgroup-id-previous", "?namespace=shop&pod=web-0&cgroup_id=99&previous=true", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t)
			code, body := f.get(t, c.query)
			if code != c.code {
				t.Errorf("status %d, want %d:\n%s", code, c.code, body)
			}
			golden.Compare(t, "dump-"+c.name, body)
		})
	}
}

// A namespace filter hides what it denies from the index and refuses it.
func TestDumpNamespaceFilterGolden(t *testing.T) {
	f := newFixture(t)
	nf, err := NewNamespaceFilter("", "shop")
	if err != nil {
		t.Fatal(err)
	}
	f.h.Namespaces = nf
	_, body := f.get(t, "")
	golden.Compare(t, "dump-index-excluded", body)
	if code, body := f.get(t, "?namespace=shop&pod=web-0"); code != http.StatusForbidden {
		t.Errorf("pod in an excluded namespace: %d\n%s", code, body)
	}
}
