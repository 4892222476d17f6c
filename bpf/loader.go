package bpf

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Config says what the recorder records and how much memory it may use.
type Config struct {
	RingSize       int    // records of a large (promoted) ring, a power of two
	SmallRingSize  int    // records of a small ring, every ring's first class
	MaxRings       int    // containers that can have a ring at once
	MemoryBudget   int64  // kernel memory the rings may take, tapes and metadata included
	SpareRings     int    // small rings kept ready for new containers
	ParentCgroupID uint64 // containers are the cgroups strictly below this one
	ParentLevel    int    // depth of the parent below the cgroup2 root (root = 0)
	CaptureBytes   int    // bytes of read/write buffers copied; 0 copies none
	Arch           syscalls.Arch
	Watch          []string // syscalls whose calls and latency are counted
	ErrorSeries    int      // capacity of the error counters (container × syscall × errno)
	// SkipErrors turns counting failed syscalls off in the kernel (the
	// errors collector is disabled): no counter is updated or allocated.
	SkipErrors    bool
	LatencySeries int // capacity of the watched-syscall counters (container × syscall × op)
	// RuntimeComms are the command names of the container runtime's own
	// processes (DefaultRuntimeComms): what they do in a container's
	// cgroup is its setup, not the application's.
	RuntimeComms []string
	// Incidents configures the incident tapes.
	Incidents Incidents
	// PinPath is a directory on a bpffs where rings and counters are pinned,
	// so that a restarted exporter finds them again; "" pins nothing.
	PinPath string
	// BPFFS is where the bpf filesystem is expected; when PinPath is below
	// it and none is mounted there, Load mounts one. "" is BPFFSRoot.
	BPFFS string

	// exitVariant, when set, is the sched_process_exit program to load
	// whatever the kernel's prototype: tests use it to run the variant
	// of older kernels on this one.
	exitVariant string
}

// pinnedMaps outlive the exporter when PinPath is set: the rings, the
// container table and the counters.
var pinnedMaps = []string{recorderMapSmallRings, recorderMapLargeRings, recorderMapRings, recorderMapContainers, recorderMapFreeSlots,
	recorderMapErrors, recorderMapLatencies, recorderMapStats, recorderMapInflight}

// MaxCaptureBytes is the largest useful --recorder.capture-bytes.
const MaxCaptureBytes = payloadSize

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	switch {
	case c.RingSize < RingChunk || c.RingSize > 1<<20 || bits.OnesCount(uint(c.RingSize)) != 1:
		return fmt.Errorf("ring size %d: must be a power of two between %d and 1048576", c.RingSize, RingChunk)
	case c.SmallRingSize < RingChunk || c.SmallRingSize > c.RingSize || bits.OnesCount(uint(c.SmallRingSize)) != 1:
		return fmt.Errorf("small ring size %d: must be a power of two between %d and the ring size (%d)", c.SmallRingSize, RingChunk, c.RingSize)
	case c.MaxRings < 1 || c.MaxRings > 1<<16:
		return fmt.Errorf("max containers %d: must be between 1 and 65536", c.MaxRings)
	case c.SpareRings < 1:
		return fmt.Errorf("spare rings %d: must be at least 1", c.SpareRings)
	case c.CaptureBytes < 0 || c.CaptureBytes > MaxCaptureBytes:
		return fmt.Errorf("capture bytes %d: must be between 0 and %d", c.CaptureBytes, MaxCaptureBytes)
	case c.Arch == "":
		return errors.New("unsupported architecture: the recorder runs on amd64 and arm64")
	case c.ErrorSeries < 1 || c.LatencySeries < 1:
		return fmt.Errorf("series limits %d/%d: must be positive", c.ErrorSeries, c.LatencySeries)
	}
	if _, err := commPatterns(c.RuntimeComms); err != nil {
		return err
	}
	if err := c.Incidents.validate(); err != nil {
		return err
	}
	if least := c.MetaBytes() + int64(min(c.spares()+1, c.MaxRings))*c.ClassBytes(false); c.MemoryBudget < least {
		return fmt.Errorf("memory budget %d bytes: less than the %d bytes that the rings' metadata (%d KiB) and %d spare rings plus one (%d KiB each) take",
			c.MemoryBudget, least, c.MetaBytes()>>10, c.spares(), c.ClassBytes(false)>>10)
	}
	for _, name := range c.Watch {
		if _, ok := c.Arch.Number(name); !ok {
			return fmt.Errorf("watched syscall %q: not a syscall on %s", name, c.Arch)
		}
	}
	return nil
}

// Recorder owns the loaded programs, their links and the maps they fill.
type Recorder struct {
	// Resumed is true when the rings and counters of an earlier exporter
	// were found pinned and are being continued.
	Resumed bool
	// MountedBPFFS is true when no bpf filesystem was at Config.BPFFS and
	// the exporter mounted one for its pins.
	MountedBPFFS bool
	// Variants are the programs loaded for this kernel and the optional
	// features it has.
	Variants Variants

	cfg   Config
	coll  *ebpf.Collection
	maps  recorderMaps
	links []link.Link
	rings *ebpf.Memory // struct ring_meta of every slot
	// pool holds the ring maps; innerSpecs is what each is made from,
	// by class.
	pool       pool
	innerSpecs [2]*ebpf.MapSpec

	// errorsMu orders reading the error counters against folding a
	// released ring's error slots into the errors map, so that no reader
	// sees a failure twice (folded and still in the ring) or not at all.
	errorsMu sync.Mutex
	// foldLost counts failures of released rings that the errors map had
	// no room for; they are reported with the kernel's errors_map_full.
	foldLost atomic.Uint64
}

// Load verifies and attaches the recorder's programs. Recording starts when
// it returns.
func Load(cfg Config) (*Recorder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return nil, fmt.Errorf("kernel BTF not found (%w): the recorder needs a kernel built with CONFIG_DEBUG_INFO_BTF=y", err)
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("raising RLIMIT_MEMLOCK: %w (run as root, or with CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE)", err)
	}
	if err := CheckKernel(); err != nil {
		return nil, err
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("loading kernel BTF: %w", err)
	}
	variants, err := chooseVariants(kernel)
	if err != nil {
		return nil, fmt.Errorf("this kernel's tracepoints do not fit the recorder: %w", err)
	}
	if cfg.exitVariant != "" {
		variants.force(cfg.exitVariant)
	}
	spec, err := loadRecorder()
	if err != nil {
		return nil, fmt.Errorf("reading embedded BPF object: %w", err)
	}
	var cookie [8]byte
	if _, err := rand.Read(cookie[:]); err != nil {
		return nil, fmt.Errorf("marker cookie: %w", err)
	}
	// Low half: an option no prctl has, whatever the kernel truncates to.
	selfCookie := binary.NativeEndian.Uint64(cookie[:])&^0xffffffff | 0x666c6972
	prctlNr, ok := cfg.Arch.Number("prctl")
	if !ok {
		return nil, fmt.Errorf("no prctl syscall on %s", cfg.Arch)
	}
	execveNr, okExecve := cfg.Arch.Number("execve")
	execveatNr, okExecveat := cfg.Arch.Number("execveat")
	if !okExecve || !okExecveat {
		return nil, fmt.Errorf("no execve or execveat syscall on %s", cfg.Arch)
	}
	patterns, err := commPatterns(cfg.RuntimeComms)
	if err != nil {
		return nil, err
	}
	var runtimeComms [MaxRuntimeComms]recorderCommPattern
	copy(runtimeComms[:], patterns)
	rings := uint32(cfg.MaxRings)
	var specs recorderSpecs
	if err := spec.Assign(&specs); err != nil {
		return nil, fmt.Errorf("embedded BPF object: %w", err)
	}
	// Every map of one class has the same size: the programs' lookups
	// in them are inlined with it.
	for class, outer := range map[ringClass]*ebpf.MapSpec{classSmall: specs.SmallRings, classLarge: specs.LargeRings} {
		outer.MaxEntries = rings
		outer.InnerMap.MaxEntries = uint32(cfg.entries(class) / RingChunk)
	}
	specs.Rings.MaxEntries = rings
	specs.FreeSlots.MaxEntries = rings
	// Room for every ring plus containers seen while the cap was reached.
	specs.Containers.MaxEntries = 4*rings + 256
	specs.Errors.MaxEntries = uint32(cfg.ErrorSeries)
	specs.Latencies.MaxEntries = uint32(cfg.LatencySeries)
	countErrors := uint32(1)
	if cfg.SkipErrors {
		countErrors, specs.Errors.MaxEntries = 0, 1
	}
	if len(cfg.Watch) == 0 {
		specs.Latencies.MaxEntries = 1 // nothing is watched: no latency counter is ever made
	}
	// What the maps hold, as Config reports it.
	cfg.ErrorSeries, cfg.LatencySeries = int(specs.Errors.MaxEntries), int(specs.Latencies.MaxEntries)
	for v, val := range map[*ebpf.VariableSpec]any{
		specs.SmallShift:          uint32(bits.TrailingZeros(uint(cfg.SmallRingSize))),
		specs.RingShift:           uint32(bits.TrailingZeros(uint(cfg.RingSize))),
		specs.ParentCgroupId:      cfg.ParentCgroupID,
		specs.ParentLevel:         uint32(cfg.ParentLevel),
		specs.SelfCookie:          selfCookie,
		specs.PrctlNr:             uint32(prctlNr),
		specs.CaptureBytes:        uint32(cfg.CaptureBytes),
		specs.CountErrors:         countErrors,
		specs.ExecveNr:            uint32(execveNr),
		specs.ExecveatNr:          uint32(execveatNr),
		specs.RuntimeCommCount:    uint32(len(patterns)),
		specs.RuntimeComms:        runtimeComms,
		specs.IncidentContext:     uint32(cfg.Incidents.Context),
		specs.IncidentFirst:       uint32(cfg.Incidents.First),
		specs.IncidentLatest:      uint32(cfg.Incidents.Latest),
		specs.IncidentLatestSmall: uint32(cfg.Incidents.latestSmall()),
		specs.IncidentIntervalNs:  uint64(cfg.Incidents.interval()),
		specs.IncidentBurstNs:     uint64(cfg.Incidents.interval()) * uint64(cfg.Incidents.Burst),
		specs.IncidentErrnos:      cfg.Incidents.errnoBitmap(),
	} {
		if err := v.Set(val); err != nil {
			return nil, fmt.Errorf("setting %s: %w", v.Name, err)
		}
	}
	variants.apply(spec)

	if cfg.BPFFS == "" {
		cfg.BPFFS = BPFFSRoot
	}
	coll, resumed, mounted, err := newCollection(spec, cfg.PinPath, cfg.BPFFS)
	if err != nil {
		return nil, err
	}
	r := &Recorder{cfg: cfg, coll: coll, Resumed: resumed, MountedBPFFS: mounted, Variants: variants,
		innerSpecs: [2]*ebpf.MapSpec{classSmall: specs.SmallRings.InnerMap.Copy(), classLarge: specs.LargeRings.InnerMap.Copy()}}
	r.pool.idleGrace = defaultIdleGrace
	if err := coll.Assign(&r.maps); err != nil {
		r.Close()
		return nil, fmt.Errorf("finding maps: %w", err)
	}
	if err := r.init(); err != nil {
		r.Close()
		return nil, err
	}
	if resumed {
		ok, err := r.resumePool()
		if err != nil {
			r.Close()
			return nil, err
		}
		if !ok {
			// Rings of other sizes than these: start afresh.
			r.Close()
			if err := Unpin(cfg.PinPath); err != nil {
				return nil, err
			}
			return Load(cfg)
		}
	} else {
		r.pool.slots = make([]slotMaps, cfg.MaxRings)
	}
	if err := r.Replenish(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.findSelf(coll.Programs[recorderProgFindSelf], selfCookie); err != nil {
		r.Close()
		return nil, err
	}
	for name, prog := range coll.Programs {
		if name == recorderProgFindSelf {
			continue
		}
		l, err := link.AttachTracing(link.TracingOptions{Program: prog})
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("attaching %s: %w", name, err)
		}
		r.links = append(r.links, l)
	}
	return r, nil
}

// findSelf learns this process's thread group id as the kernel sees it (in
// a container's pid namespace, os.Getpid is not it), so that the recorder
// never records the exporter.
func (r *Recorder) findSelf(prog *ebpf.Program, cookie uint64) error {
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return fmt.Errorf("attaching find_self: %w", err)
	}
	defer l.Close()
	// Fails with EINVAL; find_self notes who made it.
	_, _, _ = unix.Syscall6(unix.SYS_PRCTL, uintptr(cookie), uintptr(^cookie), 0, 0, 0, 0)
	var tgid uint32
	if err := r.maps.Self.Lookup(uint32(0), &tgid); err != nil {
		return fmt.Errorf("reading own pid: %w", err)
	}
	if tgid == 0 {
		return errors.New("the kernel did not see the exporter's marker syscall: cannot exclude the exporter from recording")
	}
	return nil
}

// newCollection loads the maps and programs, reusing the maps pinned at
// pinPath by an earlier exporter when they match the settings; resumed
// says they did.
func newCollection(spec *ebpf.CollectionSpec, pinPath, bpffs string) (coll *ebpf.Collection, resumed, mounted bool, err error) {
	if pinPath == "" {
		coll, err = ebpf.NewCollection(spec)
		if err != nil {
			return nil, false, false, wrapLoadError("loading the recorder", err)
		}
		return coll, false, false, nil
	}
	mounted, err = checkBPFFS(pinPath, bpffs)
	if err != nil {
		return nil, false, false, err
	}
	for _, name := range pinnedMaps {
		spec.Maps[name].Pinning = ebpf.PinByName
	}
	_, statErr := os.Stat(filepath.Join(pinPath, recorderMapSmallRings))
	resumed = statErr == nil && pinnedRingsInLayout(pinPath, spec)
	if !resumed {
		// Nothing pinned, an older exporter's layout (rings in one
		// preallocated map, ring maps of single records, or both sizes
		// in one array of maps), or rings of other sizes: start afresh,
		// freeing what it left.
		if err := Unpin(pinPath); err != nil {
			return nil, false, mounted, err
		}
	}
	opts := ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: pinPath}}
	coll, err = ebpf.NewCollectionWithOptions(spec, opts)
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		// Other ring or map sizes than the pinned ones: start afresh.
		if err := Unpin(pinPath); err != nil {
			return nil, false, mounted, err
		}
		resumed = false
		coll, err = ebpf.NewCollectionWithOptions(spec, opts)
	}
	if err != nil {
		return nil, false, mounted, wrapLoadError("loading the recorder", err)
	}
	return coll, resumed, mounted, nil
}

// pinnedRingsInLayout says whether the ring maps pinned at pinPath are
// the ones this exporter's programs read: an array of maps for each size
// class, whose maps hold records in chunks and have this configuration's
// size. The pinned arrays' compatibility does not cover their maps, and
// the programs' lookups in them are inlined with the size of the maps of
// the arrays they are loaded over.
func pinnedRingsInLayout(pinPath string, spec *ebpf.CollectionSpec) bool {
	for _, name := range []string{recorderMapSmallRings, recorderMapLargeRings} {
		if !pinnedArrayHolds(filepath.Join(pinPath, name), spec.Maps[name].InnerMap) {
			return false
		}
	}
	return true
}

// pinnedArrayHolds says whether the array of maps pinned at path holds
// maps made from inner: by the first map in it, or when it has none, by
// whether the kernel takes one.
func pinnedArrayHolds(path string, inner *ebpf.MapSpec) bool {
	outer, err := ebpf.LoadPinnedMap(path, nil)
	if err != nil {
		return false
	}
	defer outer.Close()
	for key := uint32(0); key < outer.MaxEntries(); key++ {
		var m *ebpf.Map
		if err := outer.Lookup(key, &m); err != nil {
			continue
		}
		ok := m.ValueSize() == inner.ValueSize && m.MaxEntries() == inner.MaxEntries && m.Flags() == inner.Flags
		_ = m.Close()
		return ok
	}
	m, err := ebpf.NewMap(inner)
	if err != nil {
		return false
	}
	defer m.Close()
	if err := outer.Put(uint32(0), m); err != nil {
		return false
	}
	return outer.Delete(uint32(0)) == nil
}

// BPFFSRoot is where bpf filesystems are mounted by convention (the
// default of Config.BPFFS). A pin path below it on a host that mounted none
// gets one, as Cilium and Tetragon do.
const BPFFSRoot = "/sys/fs/bpf"

const bpffsMagic = 0xcafe4a11

// checkBPFFS makes dir on a bpf filesystem, or says why it cannot. When dir
// is below root and no bpffs is mounted there, it mounts one at root (that
// needs CAP_SYS_ADMIN), so that the pins outlive the exporter. mounted says
// it did.
func checkBPFFS(dir, root string) (mounted bool, err error) {
	onBPFFS, err := onBPFFS(dir)
	if err != nil {
		return false, err
	}
	if !onBPFFS && isBelow(dir, root) {
		if err := os.MkdirAll(root, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return false, fmt.Errorf("--bpf.pin-path %s: no bpf filesystem at %s, and %w: %w", dir, root, err, ErrNoBPFFS)
		}
		if err := unix.Mount("bpf", root, "bpf", 0, "mode=0700"); err != nil {
			return false, fmt.Errorf("--bpf.pin-path %s: no bpf filesystem at %s, and mounting one failed: %w (mount -t bpf bpf %s on the host, or give the exporter CAP_SYS_ADMIN): %w",
				dir, root, err, root, ErrNoBPFFS)
		}
		mounted, onBPFFS = true, true
	}
	if !onBPFFS {
		return false, fmt.Errorf("--bpf.pin-path %s is not on a bpf filesystem (mount -t bpf bpf %s, or pin below --bpf.fs-path %s): %w", dir, root, root, ErrNoBPFFS)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return mounted, fmt.Errorf("--bpf.pin-path %s: %w", dir, err)
	}
	return mounted, nil
}

func isBelow(path, root string) bool {
	rel, err := filepath.Rel(root, filepath.Clean(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// onBPFFS reports whether dir is, or would be made, on a bpf filesystem.
func onBPFFS(dir string) (bool, error) {
	// The nearest existing ancestor tells which filesystem dir would be on.
	existing := filepath.Clean(dir)
	for {
		_, err := os.Stat(existing)
		if err == nil || existing == "/" || existing == "." {
			break
		}
		if !errors.Is(err, os.ErrNotExist) {
			return false, fmt.Errorf("--bpf.pin-path %s: %w", dir, err)
		}
		existing = filepath.Dir(existing)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(existing, &st); err != nil {
		return false, fmt.Errorf("--bpf.pin-path %s: %w", dir, err)
	}
	return st.Type == bpffsMagic, nil
}

// ErrNoBPFFS means the pin path is not on a bpf filesystem.
var ErrNoBPFFS = errors.New("no bpffs")

// legacyPinnedMaps are maps that earlier exporters pinned and this one
// does not use: the preallocated rings and tapes, then one array of the
// ring maps of both sizes.
var legacyPinnedMaps = []string{"records", "incident_records", "ring_maps"}

// Unpin removes the maps an exporter, this one or an earlier one, pinned
// at dir.
func Unpin(dir string) error {
	for _, name := range append(pinnedMaps, legacyPinnedMaps...) {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("removing pinned map: %w", err)
		}
	}
	return nil
}

// init maps the rings' metadata into this process and writes the syscall
// capture table.
func (r *Recorder) init() error {
	var err error
	if r.rings, err = r.maps.Rings.Memory(); err != nil {
		return fmt.Errorf("mapping ring metadata: %w", err)
	}
	r.pool.metaBytes = memlock(r.maps.Rings, int64(r.cfg.MaxRings)*int64(ringMetaSize))
	watched := map[int]bool{}
	for _, name := range r.cfg.Watch {
		nr, _ := r.cfg.Arch.Number(name)
		watched[nr] = true
	}
	max := min(r.cfg.Arch.MaxNr(), int(r.maps.ScConfs.MaxEntries()))
	for nr := 0; nr < max; nr++ {
		conf := scConf(r.cfg.Arch, nr)
		if watched[nr] {
			conf.Flags |= uint8(recorderScFlagSC_WATCH)
		}
		if err := r.maps.ScConfs.Update(uint32(nr), conf, ebpf.UpdateAny); err != nil {
			return fmt.Errorf("writing capture table: %w", err)
		}
	}
	return nil
}

const (
	argNone       = 0xff       // ARG_NONE: the syscall has no such argument
	slotUntracked = 0xffffffff // SLOT_UNTRACKED: a container that got no ring
)

// scConf is the capture table entry (struct sc_conf) of syscall nr.
func scConf(arch syscalls.Arch, nr int) recorderScConf {
	c := arch.Capture(nr)
	idx := func(i int) uint8 {
		if i < 0 || i > 5 {
			return argNone
		}
		return uint8(i)
	}
	v := recorderScConf{
		Str1: idx(c.Str1), Str2: idx(c.Str2), Argv: idx(c.Argv),
		Sa: idx(c.Sockaddr), SaLen: idx(c.SockaddrLen), Buf: idx(c.Buf), BufLen: idx(c.BufLen),
	}
	if c.SockaddrAtExit {
		v.Flags |= uint8(recorderScFlagSC_SA_AT_EXIT)
	}
	if c.BufAtExit {
		v.Flags |= uint8(recorderScFlagSC_BUF_AT_EXIT)
	}
	if syscalls.NoReturn(arch.Name(nr)) {
		v.Flags |= uint8(recorderScFlagSC_NO_RETURN)
	}
	if syscalls.RestoresContext(arch.Name(nr)) {
		v.Flags |= uint8(recorderScFlagSC_NO_RESULT)
	}
	if syscalls.TimedWait(arch.Name(nr)) {
		v.Flags |= uint8(recorderScFlagSC_TIMED_WAIT)
	}
	return v
}

func wrapLoadError(what string, err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return fmt.Errorf("%s: %+v", what, ve)
	}
	if errors.Is(err, os.ErrPermission) {
		return fmt.Errorf("%s: %w (%s)", what, err, permissionHint())
	}
	return fmt.Errorf("%s: %w", what, err)
}

// KernelFeatures says which optional features the running kernel has
// (Feature* names).
func (r *Recorder) KernelFeatures() map[string]bool { return r.Variants.Features }

// Config returns the settings the recorder was loaded with.
func (r *Recorder) Config() Config { return r.cfg }

// Close detaches the programs and frees the rings.
func (r *Recorder) Close() error {
	var errs []error
	for _, l := range r.links {
		errs = append(errs, l.Close())
	}
	r.links = nil
	r.closePool()
	errs = append(errs, r.maps.Close())
	r.coll.Close()
	return errors.Join(errs...)
}
