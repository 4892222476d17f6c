package bpf

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/features"
	"golang.org/x/sys/unix"
)

// MinimumKernel is the oldest kernel the recorder is tested on and known
// to run on: the oldest that CI boots and passes the privileged suites on
// (test/kernels).
const MinimumKernel = "6.1"

// kernelFeature is a BPF capability the recorder cannot run without.
type kernelFeature struct {
	What  string // what the kernel lacks, for the refusal line
	Since string // the upstream release that added it
	Probe func() error
}

// requiredFeatures are probed at start, before anything is loaded, so that
// an old kernel is refused with a line that names what it lacks instead of
// a verifier or map-creation error. Each probe asks the kernel itself; none
// guesses from the version string.
var requiredFeatures = []kernelFeature{
	{"BTF-typed raw tracepoints, tp_btf", "5.5", probeTracing},
	{"memory-mappable BPF arrays, BPF_F_MMAPABLE", "5.5", func() error { return features.HaveMapFlag(features.BPF_F_MMAPABLE) }},
	{"the BPF ring buffer, BPF_MAP_TYPE_RINGBUF", "5.8", func() error { return features.HaveMapType(ebpf.RingBuf) }},
	{"task local storage, BPF_MAP_TYPE_TASK_STORAGE", "5.11", func() error { return features.HaveMapType(ebpf.TaskStorage) }},
	{"bpf_get_current_task_btf in tracing programs", "5.11", probeCurrentTaskBTF},
	{"BPF atomic exchange and compare-exchange instructions", "5.12", probeAtomics},
	// The probe's program type is one cilium/ebpf can probe helpers for;
	// bpf_loop came to every program type at once.
	{"the bpf_loop helper", "5.17", func() error { return features.HaveProgramHelper(ebpf.RawTracepoint, asm.FnLoop) }},
}

// ErrKernelTooOld means the running kernel lacks a feature the recorder
// needs.
var ErrKernelTooOld = errors.New("kernel too old")

// CheckKernel probes every required feature and returns one error that
// names all the missing ones and the minimum kernel, wrapping
// ErrKernelTooOld, or the first probe that could not run (permissions).
func CheckKernel() error {
	var missing []string
	for _, f := range requiredFeatures {
		err := f.Probe()
		switch {
		case err == nil:
		case errors.Is(err, ebpf.ErrNotSupported):
			missing = append(missing, fmt.Sprintf("%s (Linux %s)", f.What, f.Since))
		case errors.Is(err, unix.EPERM) || errors.Is(err, os.ErrPermission):
			return fmt.Errorf("probing the kernel for %s: %w (%s)", f.What, err, permissionHint())
		default:
			return fmt.Errorf("probing the kernel for %s: %w", f.What, err)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	release := "unknown"
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		release = unix.ByteSliceToString(u.Release[:])
	}
	return fmt.Errorf("%w: this kernel lacks %s: flightrec_exporter needs Linux %s or newer (running %s)",
		ErrKernelTooOld, strings.Join(missing, "; "), MinimumKernel, release)
}

// probeTracing loads the smallest tp_btf program, on sys_enter.
func probeTracing() error {
	return probeProgram(asm.Instructions{
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	})
}

// probeCurrentTaskBTF loads a tp_btf program that calls
// bpf_get_current_task_btf.
func probeCurrentTaskBTF() error {
	return probeProgram(asm.Instructions{
		asm.FnGetCurrentTaskBtf.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	})
}

// probeAtomics loads a tp_btf program that compare-exchanges a stack slot,
// the newest kind of atomic instruction the recorder uses.
func probeAtomics() error {
	return probeProgram(asm.Instructions{
		asm.Mov.Imm(asm.R3, 0),
		asm.StoreMem(asm.R10, -8, asm.R3, asm.DWord),
		asm.Mov.Reg(asm.R1, asm.R10),
		asm.Add.Imm(asm.R1, -8),
		asm.Mov.Imm(asm.R0, 0),
		asm.Mov.Imm(asm.R2, 1),
		asm.CmpXchg.Mem(asm.R1, asm.R2, asm.DWord, 0),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	})
}

// enotsupp is the kernel-internal ENOTSUPP (524) that some BPF paths leak
// to user space.
const enotsupp = unix.Errno(524)

// probeProgram loads insns as a tp_btf program on sys_enter; an
// instruction, helper or program type the kernel does not know is
// ErrNotSupported.
func probeProgram(insns asm.Instructions) error {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		return fmt.Errorf("%w: no kernel BTF", ebpf.ErrNotSupported)
	}
	prog, err := ebpf.NewProgramWithOptions(&ebpf.ProgramSpec{
		Type:         ebpf.Tracing,
		AttachType:   ebpf.AttachTraceRawTp,
		AttachTo:     "sys_enter",
		Instructions: insns,
		License:      "GPL",
	}, ebpf.ProgramOptions{LogDisabled: true})
	if err == nil {
		return prog.Close()
	}
	// The verifier refuses what it does not know with EINVAL (unknown
	// opcode or helper); a kernel without the program type says EINVAL
	// or ENOTSUPP at load.
	if errors.Is(err, unix.EINVAL) || errors.Is(err, enotsupp) || errors.Is(err, ebpf.ErrNotSupported) {
		return fmt.Errorf("%w: %v", ebpf.ErrNotSupported, err)
	}
	return err
}
