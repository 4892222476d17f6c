package frozen

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
)

var t0 = time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)

// run is the snapshot of a run of app that ended with a wait status.
func run(id uint64, status uint64, oom bool) bpf.Snapshot {
	exit := bpf.Record{Seq: 2, Nr: bpf.EventProcessExit, PID: 9, Finished: true}
	exit.Args[0], exit.Args[1] = status, bpf.ExitGroupDead
	recs := []bpf.Record{{Seq: 1, Nr: 0, PID: 9, Finished: true}}
	if oom {
		recs = append(recs, bpf.Record{Seq: 2, Nr: bpf.EventOOMKill, PID: 9})
		exit.Seq = 3
	}
	return bpf.Snapshot{Ring: bpf.Ring{CgroupID: id, Written: uint64(len(recs) + 1)}, Records: append(recs, exit)}
}

var app = containers.Labels{Namespace: "shop", Pod: "web-0", Container: "app"}

func TestStoreKeepsTheNewestWithinItsLimits(t *testing.T) {
	s := NewStore(Limits{Retention: time.Hour, MaxRings: 2}, nil)
	s.Freeze(run(1, 1<<8, false), "/a", app, nil, t0)
	s.Freeze(run(2, 9, true), "/a", app, nil, t0.Add(time.Minute))
	s.Freeze(run(3, 11|0x80, false), "/a", app, nil, t0.Add(2*time.Minute))
	if n, _, evicted := s.Stats(); n != 2 || evicted != 1 {
		t.Fatalf("%d rings kept, %d evicted; want 2 and 1", n, evicted)
	}
	same := func(r *Ring) bool { return r.Labels == app }
	for n, want := range map[int]string{1: "killed by SIGSEGV (core dumped)", 2: "OOM killed"} {
		r, ok := s.Previous(n, same)
		if !ok || r.Ended != want {
			t.Errorf("previous=%d: %+v %v, want ended %q", n, r, ok, want)
		}
	}
	if _, ok := s.Previous(3, same); ok {
		t.Error("previous=3 found a ring the count bound dropped")
	}
	s.Expire(t0.Add(time.Hour + 90*time.Second))
	if n, _, evicted := s.Stats(); n != 1 || evicted != 2 {
		t.Errorf("after the retention of the older: %d kept, %d evicted; want 1 and 2", n, evicted)
	}
}

func TestStoreByteBound(t *testing.T) {
	one := estimateBytes(run(1, 0, false).Records)
	s := NewStore(Limits{Retention: time.Hour, MaxBytes: 2*one + one/2}, nil)
	for i := uint64(1); i <= 3; i++ {
		s.Freeze(run(i, 0, false), "/a", app, nil, t0)
	}
	if n, bytes, _ := s.Stats(); n != 2 || bytes > 2*one+one/2 {
		t.Errorf("%d rings of %d bytes kept under a bound of %d", n, bytes, 2*one+one/2)
	}
}

// Saved frozen rings survive a restart; a torn state file is ignored.
func TestStorePersists(t *testing.T) {
	dir := t.TempDir()
	s := NewStore(Limits{Retention: time.Hour, MaxRings: 8}, nil)
	if n, err := s.Persist(dir, t0); err != nil || n != 0 {
		t.Fatalf("empty dir: %d, %v", n, err)
	}
	s.Freeze(run(1, 3<<8, false), "/a", app, nil, t0)
	if err := s.SaveError(); err != nil {
		t.Fatal(err)
	}
	again := NewStore(Limits{Retention: time.Hour, MaxRings: 8}, nil)
	if n, err := again.Persist(dir, t0.Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("reloaded %d, %v; want 1", n, err)
	}
	if r, ok := again.Previous(1, func(r *Ring) bool { return r.Cgroup == "/a" }); !ok || r.Ended != "exited with 3" || len(r.Records) != 2 {
		t.Errorf("reloaded ring %+v", r)
	}
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte("torn"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := NewStore(Limits{Retention: time.Hour}, nil).Persist(dir, t0); err != nil || n != 0 {
		t.Errorf("a torn state file: %d, %v; want an empty store", n, err)
	}
}

// A container's ending is its main process's, as the kernel kept it, not
// the last exit in the ring: a child left behind is killed after the
// entrypoint exits (the pid namespace's init died), and a busy ring may
// have lost the entrypoint's exit record.
func TestEndedIsTheMainProcesss(t *testing.T) {
	child := bpf.Record{Seq: 3, Nr: bpf.EventProcessExit, PID: 10, Finished: true}
	child.Args[0], child.Args[1] = 9, bpf.ExitGroupDead // SIGKILL
	main := bpf.Record{Seq: 2, Nr: bpf.EventProcessExit, PID: 9, Finished: true}
	main.Args[0], main.Args[1] = 3<<8, bpf.ExitGroupDead
	for _, c := range []struct {
		name string
		ring bpf.Ring
		recs []bpf.Record
		want string
	}{
		{"main exited, child killed after it", bpf.Ring{MainPID: 9, MainExited: true, MainStatus: 3 << 8}, []bpf.Record{main, child}, "exited with 3"},
		{"main's exit record overwritten", bpf.Ring{MainPID: 9, MainExited: true, MainStatus: 15}, []bpf.Record{child}, "killed by SIGTERM"},
		{"main OOM killed", bpf.Ring{MainPID: 9, MainExited: true, MainStatus: 9, MainOOMKilled: true}, []bpf.Record{child}, "OOM killed"},
		{"main unknown: the last whole process", bpf.Ring{}, []bpf.Record{main, child}, "killed by SIGKILL"},
	} {
		s := NewStore(Limits{}, nil)
		c.ring.CgroupID = 7
		f := s.Freeze(bpf.Snapshot{Ring: c.ring, Records: c.recs}, "/a", app, nil, t0)
		if f.Ended != c.want {
			t.Errorf("%s: ended %q, want %q", c.name, f.Ended, c.want)
		}
		if f.MainPID != c.ring.MainPID {
			t.Errorf("%s: main pid %d, want %d", c.name, f.MainPID, c.ring.MainPID)
		}
	}
}

// namer names the paths it has been told.
type namer map[string]containers.Labels

func (n namer) NameOf(path string) (containers.Labels, *int, bool) {
	l, ok := n[path]
	return l, nil, ok
}

// A run frozen before it had a name is named when it is read, once the
// namer knows it; until then no label query finds it.
func TestFrozenRingNamedLater(t *testing.T) {
	names := namer{}
	s := NewStore(Limits{}, names)
	s.Freeze(run(1, 3<<8, false), "/kubepods/pod1/c1", containers.Labels{}, nil, t0)
	isApp := func(r *Ring) bool { return r.Labels == app }
	if _, ok := s.Previous(1, isApp); ok {
		t.Fatal("an unnamed ring matched app")
	}
	if all := s.All(); len(all) != 1 || all[0].Named() {
		t.Fatalf("want one unnamed ring, got %+v", all)
	}
	names["/kubepods/pod1/c1"] = app
	r, ok := s.Previous(1, isApp)
	if !ok || r.Ended != "exited with 3" {
		t.Fatalf("named ring: %+v %v", r, ok)
	}
}
