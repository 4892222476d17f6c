// Package restart_test kills the exporter mid-workload and checks that the
// next one continues its rings, counters and frozen rings. Needs root.
package restart_test

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// bpffs mounts a private bpf filesystem for the test's pinned maps.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mounting bpffs: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Unmount(dir, syscall.MNT_DETACH) })
	return dir
}

func TestSIGKILLedExporterResumesTheTape(t *testing.T) {
	cg := testenv.NewCgroups(t)
	pins := filepath.Join(bpffs(t), "flightrec")
	state := t.TempDir()
	args := []string{"--recorder.cgroup-parent=" + cg.Parent, "--bpf.pin-path=" + pins, "--dump.state-dir=" + state,
		"--recorder.reclaim-interval=100ms"}
	workload := testenv.Build(t, "./test/workload")
	live := cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
	dead := cg.Make(t, testenv.KubeletPath("besteffort", testenv.RandomUID(), testenv.RandomHex(32)))
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	nobody := &syscall.Credential{Uid: 65534, Gid: 65534}

	a := testenv.StartExporter(t, args...)
	if out, code := cg.Run(t, live, nobody, workload, "open-fail", secret, "6"); code != 0 {
		t.Fatalf("workload: %d %s", code, out)
	}
	// The ring turns over: the failed opens are kept on its incident tape only.
	if out, code := cg.Run(t, live, nil, workload, "getppid", "20000"); code != 0 {
		t.Fatalf("workload: %d %s", code, out)
	}
	// A container that dies while the first exporter runs: its ring is frozen.
	if _, code := cg.Run(t, dead, nil, "/bin/sh", "-c", "exit 7"); code != 7 {
		t.Fatal("dead container did not exit 7")
	}
	cg.Remove(t, dead)
	testenv.WaitFor(t, "the frozen ring", func() bool {
		code, _ := a.Get(t, "/dump?previous=true&cgroup="+url.QueryEscape(dead))
		return code == 200
	})
	// Mid-workload: a process is blocked in a syscall when the exporter
	// dies: cat reading a pipe the test holds.
	reader := cg.Command(t, live, "/bin/cat")
	pipe, err := reader.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := reader.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Process.Kill(); _ = reader.Wait() })
	var blocked uint64 // seq of the read in flight
	testenv.WaitFor(t, "cat to block in read", func() bool {
		for _, e := range dumpRing(t, a, live).Entries {
			if e.Syscall == "read" && !e.Finished && e.PID == uint32(reader.Process.Pid) && strings.HasPrefix(e.Params, "0, ") {
				blocked = e.Seq
				return true
			}
		}
		return false
	})
	before := dumpRing(t, a, live)
	a.Kill()

	b := testenv.StartExporter(t, args...)
	if !strings.Contains(b.Log(), "continuing the rings and counters") {
		t.Errorf("the second exporter did not say it resumed:\n%s", b.Log())
	}
	after := dumpRing(t, b, live)
	if after.Written < before.Written {
		t.Fatalf("ring written went back from %d to %d", before.Written, after.Written)
	}
	eacces := 0
	for _, e := range after.Entries {
		if e.Errno == "EACCES" && strings.Contains(e.Params, secret) {
			eacces++
			if e.Source != dump.SourceTape || !e.Incident {
				t.Errorf("failed open %d: source %q, incident %v; want the pinned tape's incident", e.Seq, e.Source, e.Incident)
			}
		}
	}
	if eacces != 6 || after.Incidents != 6 {
		t.Errorf("after the restart, the tape holds %d of the 6 failed opens from before it (%d incidents counted)", eacces, after.Incidents)
	}
	// The read that was blocked across the restart returns now: the new
	// exporter completes the record the old one began, then records the
	// exit.
	if _, err := pipe.Write([]byte("in flight\n")); err != nil {
		t.Fatal(err)
	}
	pipe.Close()
	if err := reader.Wait(); err != nil {
		t.Fatalf("cat: %v", err)
	}
	testenv.WaitFor(t, "cat's exit in the ring", func() bool {
		for _, e := range dumpRing(t, b, live).Entries {
			if e.Kind == dump.KindExit && e.PID == uint32(reader.Process.Pid) && e.ExitCode != nil && *e.ExitCode == 0 {
				return true
			}
		}
		return false
	})
	var completed *dump.Entry
	for _, e := range dumpRing(t, b, live).Entries {
		if e.Seq == blocked {
			completed = &e
		}
	}
	if completed == nil || completed.Syscall != "read" || !completed.Finished || completed.Ret == nil || *completed.Ret != int64(len("in flight\n")) {
		t.Errorf("the read in flight across the restart (seq %d): %+v, want it finished returning %d", blocked, completed, len("in flight\n"))
	}

	if out, code := cg.Run(t, live, nobody, workload, "open-fail", secret, "4"); code != 0 {
		t.Fatalf("workload: %d %s", code, out)
	}
	got, _ := b.Scrape(t).Value(t, "flightrec_syscall_errors_total",
		map[string]string{"container": live, "syscall": "openat", "errno": "EACCES"})
	if got != 10 {
		t.Errorf("openat EACCES after the restart = %v, want 6 before + 4 after = 10", got)
	}
	code, body := b.Get(t, "/dump?format=json&previous=true&cgroup="+url.QueryEscape(dead))
	var frozen dump.RingDump
	if code != 200 || json.Unmarshal([]byte(body), &frozen) != nil || frozen.Ended != "exited with 7" {
		t.Errorf("frozen ring after the restart: %d %.300s", code, body)
	}
}

func dumpRing(t *testing.T, e *testenv.Exporter, cgroup string) dump.RingDump {
	t.Helper()
	var d dump.RingDump
	if err := json.Unmarshal([]byte(e.MustGet(t, "/dump?format=json&cgroup="+url.QueryEscape(cgroup))), &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// An exporter upgraded over the pins of one that preallocated its rings
// (maps records and incident_records, 154.5 MiB at the defaults) frees
// them: left pinned, nothing would ever use or free that memory.
func TestUpgradeFreesTheOldPreallocatedRings(t *testing.T) {
	cg := testenv.NewCgroups(t)
	pins := filepath.Join(bpffs(t), "flightrec")
	if err := os.MkdirAll(pins, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"records", "incident_records", "rings"} {
		m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 248, MaxEntries: 1024, Flags: unix.BPF_F_MMAPABLE})
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Pin(filepath.Join(pins, name)); err != nil {
			t.Fatal(err)
		}
		m.Close()
	}
	e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+pins)
	for _, name := range []string{"records", "incident_records"} {
		if _, err := os.Stat(filepath.Join(pins, name)); !os.IsNotExist(err) {
			t.Errorf("the old exporter's %s is still pinned (%v)", name, err)
		}
	}
	for _, name := range []string{"small_rings", "large_rings"} {
		if _, err := os.Stat(filepath.Join(pins, name)); err != nil {
			t.Errorf("%s not pinned: %v", name, err)
		}
	}
	if strings.Contains(e.Log(), "continuing the rings") {
		t.Errorf("the exporter resumed the old layout:\n%s", e.Log())
	}
}

// Ring maps pinned by earlier exporters, or of other sizes, that the
// programs cannot read. The arrays of maps are compatible (their values are
// map fds), so an exporter that resumed them could not start: the verifier
// refuses programs that read chunks from maps of single records, and the
// programs' inlined lookups take the size of the maps of the array they are
// loaded over, which then takes no map of this exporter's size. It starts
// afresh instead.
func TestUpgradeFromOtherRingLayouts(t *testing.T) {
	const chunk = 32 * 248 // bytes of a chunk of records
	for _, tc := range []struct {
		name string
		// pinned are the arrays of maps left pinned, by name.
		pinned map[string]*ebpf.MapSpec // the inner maps' spec
		// fill says whether slot 0 of each holds a map.
		fill bool
	}{
		{"ring maps of single records", map[string]*ebpf.MapSpec{
			"ring_maps": {Type: ebpf.Array, KeySize: 4, ValueSize: 248, MaxEntries: 512 + (16+8)*9,
				Flags: unix.BPF_F_MMAPABLE | unix.BPF_F_INNER_MAP}}, true},
		{"both sizes in one array", map[string]*ebpf.MapSpec{
			"ring_maps": {Type: ebpf.Array, KeySize: 4, ValueSize: chunk, MaxEntries: 23,
				Flags: unix.BPF_F_MMAPABLE | unix.BPF_F_INNER_MAP}}, true},
		{"maps of another size", map[string]*ebpf.MapSpec{
			"small_rings": {Type: ebpf.Array, KeySize: 4, ValueSize: chunk, MaxEntries: 15, Flags: unix.BPF_F_MMAPABLE},
			"large_rings": {Type: ebpf.Array, KeySize: 4, ValueSize: chunk, MaxEntries: 135, Flags: unix.BPF_F_MMAPABLE}}, true},
		{"empty arrays for maps of another size", map[string]*ebpf.MapSpec{
			"small_rings": {Type: ebpf.Array, KeySize: 4, ValueSize: chunk, MaxEntries: 15, Flags: unix.BPF_F_MMAPABLE},
			"large_rings": {Type: ebpf.Array, KeySize: 4, ValueSize: chunk, MaxEntries: 135, Flags: unix.BPF_F_MMAPABLE}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cg := testenv.NewCgroups(t)
			pins := filepath.Join(bpffs(t), "flightrec")
			if err := os.MkdirAll(pins, 0o700); err != nil {
				t.Fatal(err)
			}
			for name, inner := range tc.pinned {
				pinRingArray(t, filepath.Join(pins, name), inner, tc.fill)
			}
			e := testenv.StartExporter(t, "--recorder.cgroup-parent="+cg.Parent, "--bpf.pin-path="+pins)
			if strings.Contains(e.Log(), "continuing the rings") {
				t.Errorf("the exporter resumed the old layout:\n%s", e.Log())
			}
			if _, err := os.Stat(filepath.Join(pins, "ring_maps")); !os.IsNotExist(err) {
				t.Errorf("the old exporter's ring_maps is still pinned (%v)", err)
			}
			ring := pinnedRing(t, filepath.Join(pins, "small_rings"), 0)
			if old := tc.pinned["small_rings"]; ring.ValueSize() != chunk || old != nil && ring.MaxEntries() == old.MaxEntries {
				t.Errorf("slot 0 holds a map of %d values of %d bytes, not this exporter's", ring.MaxEntries(), ring.ValueSize())
			}
			// Spare rings are made and installed: the exporter is ready
			// for containers.
			if v, _ := e.Scrape(t).Value(t, "flightrec_recorder_class_rings", map[string]string{"class": "spare"}); v < 1 {
				t.Errorf("%v spare rings, want some:\n%s", v, e.Log())
			}
		})
	}
}

// An exporter restarted with another ring size starts afresh over the
// rings it pinned, and its own are of the new size.
func TestRestartWithAnotherRingSize(t *testing.T) {
	cg := testenv.NewCgroups(t)
	pins := filepath.Join(bpffs(t), "flightrec")
	args := []string{"--recorder.cgroup-parent=" + cg.Parent, "--bpf.pin-path=" + pins}
	a := testenv.StartExporter(t, append(args, "--recorder.small-ring-size=256")...)
	before := pinnedRing(t, filepath.Join(pins, "small_rings"), 0).MaxEntries()
	a.Stop()
	b := testenv.StartExporter(t, append(args, "--recorder.small-ring-size=1024")...)
	if strings.Contains(b.Log(), "continuing the rings") {
		t.Errorf("the exporter resumed rings of another size:\n%s", b.Log())
	}
	after := pinnedRing(t, filepath.Join(pins, "small_rings"), 0).MaxEntries()
	if after <= before {
		t.Errorf("slot 0's map has %d chunks with 1024-record small rings, %d with 256", after, before)
	}
	if v, _ := b.Scrape(t).Value(t, "flightrec_recorder_class_rings", map[string]string{"class": "spare"}); v < 1 {
		t.Errorf("%v spare rings, want some:\n%s", v, b.Log())
	}
}

// pinRingArray pins at path an array of maps of inner, as an earlier
// exporter would have left it; with fill, slot 0 holds a map.
func pinRingArray(t *testing.T, path string, inner *ebpf.MapSpec, fill bool) {
	t.Helper()
	outer, err := ebpf.NewMap(&ebpf.MapSpec{Name: filepath.Base(path), Type: ebpf.ArrayOfMaps, KeySize: 4, ValueSize: 4,
		MaxEntries: 1024, InnerMap: inner})
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	if fill {
		m, err := ebpf.NewMap(inner)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if err := outer.Put(uint32(0), m); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Pin(path); err != nil {
		t.Fatal(err)
	}
}

// pinnedRing is the map in slot of the array of ring maps pinned at path.
func pinnedRing(t *testing.T, path string, slot uint32) *ebpf.Map {
	t.Helper()
	outer, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		t.Fatalf("%s not pinned: %v", filepath.Base(path), err)
	}
	defer outer.Close()
	var ring *ebpf.Map
	if err := outer.Lookup(slot, &ring); err != nil {
		t.Fatalf("no ring in slot %d of %s: %v", slot, filepath.Base(path), err)
	}
	t.Cleanup(func() { ring.Close() })
	return ring
}
