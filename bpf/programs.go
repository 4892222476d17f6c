package bpf

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// program is one tp_btf program of recorder.bpf.c and the tracepoint
// arguments it reads, as C types. A tracepoint's arguments differ between
// kernels; a program is loaded only where the running kernel's prototype
// (its btf_trace_<name> typedef) starts with the arguments the program
// reads, so that it means the same thing on every kernel.
type program struct {
	Name       string   // the program in the collection (its C function name)
	Tracepoint string   // the raw tracepoint it attaches to
	Args       []string // the arguments it reads, after the context
	// Feature is what the exporter lacks when no variant of an optional
	// tracepoint fits this kernel; "" means the recorder cannot run
	// without it.
	Feature string
}

// Feature names, as in flightrec_recorder_kernel_feature.
const (
	FeatureOOMKill   = "oom_kill"   // OOM-killer victims are marked in the rings (mark_victim)
	FeatureGroupDead = "group_dead" // sched_process_exit says which thread ends the process (after 6.12)
)

// programs lists every program with its variants: for one tracepoint, the
// first variant that fits the kernel is loaded, the others are not.
var programs = []program{
	{Name: recorderProgSysEnter, Tracepoint: "sys_enter", Args: []string{"struct pt_regs *", "long int"}},
	{Name: recorderProgSysExit, Tracepoint: "sys_exit", Args: []string{"struct pt_regs *", "long int"}},
	{Name: recorderProgProcessExit, Tracepoint: "sched_process_exit", Args: []string{"struct task_struct *", "bool"}},
	{Name: recorderProgProcessExitLive, Tracepoint: "sched_process_exit", Args: []string{"struct task_struct *"}},
	{Name: recorderProgSignalDeliver, Tracepoint: "signal_deliver", Args: []string{"int", "struct kernel_siginfo *", "struct k_sigaction *"}},
	{Name: recorderProgMarkVictim, Tracepoint: "mark_victim", Args: []string{"struct task_struct *", "uid_t"}, Feature: FeatureOOMKill},
	{Name: recorderProgCgroupMkdir, Tracepoint: "cgroup_mkdir", Args: []string{"struct cgroup *", "const char *"}},
	{Name: recorderProgCgroupRmdir, Tracepoint: "cgroup_rmdir", Args: []string{"struct cgroup *", "const char *"}},
	{Name: recorderProgFindSelf, Tracepoint: "sys_enter", Args: []string{"struct pt_regs *", "long int"}},
}

// Variants are the programs chosen for the running kernel.
type Variants struct {
	Programs []string        // programs to load, sorted
	Features map[string]bool // optional features: available or not
	Missing  []string        // why each unavailable feature is missing
}

// chooseVariants picks, for every tracepoint, the first program variant
// whose arguments the kernel's prototype starts with. A required
// tracepoint that nothing fits is an error naming both prototypes.
func chooseVariants(kernel *btf.Spec) (Variants, error) {
	v := Variants{Features: map[string]bool{}}
	chosen := map[string]string{} // variant group (tracepoint, or program for find_self) → program
	var order []string
	group := func(p program) string {
		if p.Name == recorderProgFindSelf {
			return p.Name // a second program on sys_enter, not a variant of sys_enter
		}
		return p.Tracepoint
	}
	tried := map[string][]string{}
	protos := map[string][]string{}
	for _, p := range programs {
		g := group(p)
		if _, ok := tried[g]; !ok {
			order = append(order, g)
		}
		tried[g] = append(tried[g], "("+strings.Join(p.Args, ", ")+")")
		if _, done := chosen[g]; done {
			continue
		}
		args, err := tracepointArgs(kernel, p.Tracepoint)
		if err != nil {
			protos[g] = nil
			continue
		}
		protos[g] = args
		if hasPrefix(args, p.Args) {
			chosen[g] = p.Name
			v.Programs = append(v.Programs, p.Name)
		}
	}
	var errs []error
	for _, g := range order {
		if _, ok := chosen[g]; ok {
			continue
		}
		feature, tp := "", g
		for _, p := range programs {
			if group(p) == g {
				feature, tp = p.Feature, p.Tracepoint
			}
		}
		why := fmt.Sprintf("tracepoint %s is not in this kernel", tp)
		if protos[g] != nil {
			why = fmt.Sprintf("tracepoint %s has arguments (%s) on this kernel; the recorder reads %s",
				tp, strings.Join(protos[g], ", "), strings.Join(tried[g], " or "))
		}
		if feature == "" {
			errs = append(errs, errors.New(why))
			continue
		}
		v.Features[feature] = false
		v.Missing = append(v.Missing, feature+": "+why)
	}
	for _, p := range programs {
		if p.Feature != "" {
			if _, ok := v.Features[p.Feature]; !ok {
				v.Features[p.Feature] = true
			}
		}
	}
	v.Features[FeatureGroupDead] = chosen["sched_process_exit"] == recorderProgProcessExit
	sort.Strings(v.Programs)
	return v, errors.Join(errs...)
}

// force loads program instead of the variant chosen for tracepoint.
func (v *Variants) force(tracepoint, program string) {
	var keep []string
	for _, name := range v.Programs {
		for _, p := range programs {
			if p.Name == name && p.Tracepoint == tracepoint && p.Name != recorderProgFindSelf {
				name = program
			}
		}
		keep = append(keep, name)
	}
	v.Programs = keep
	v.Features[FeatureGroupDead] = program == recorderProgProcessExit
}

// apply removes from spec the programs that were not chosen.
func (v Variants) apply(spec *ebpf.CollectionSpec) {
	keep := map[string]bool{}
	for _, p := range v.Programs {
		keep[p] = true
	}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
}

// tracepointArgs is the argument list of a raw tracepoint in the kernel's
// BTF, after the context pointer every btf_trace_ prototype starts with.
func tracepointArgs(kernel *btf.Spec, tp string) ([]string, error) {
	var td *btf.Typedef
	if err := kernel.TypeByName("btf_trace_"+tp, &td); err != nil {
		return nil, err
	}
	ptr, ok := td.Type.(*btf.Pointer)
	if !ok {
		return nil, fmt.Errorf("btf_trace_%s: not a function pointer", tp)
	}
	fp, ok := ptr.Target.(*btf.FuncProto)
	if !ok || len(fp.Params) == 0 {
		return nil, fmt.Errorf("btf_trace_%s: not a function pointer", tp)
	}
	args := make([]string, 0, len(fp.Params)-1)
	for _, p := range fp.Params[1:] {
		args = append(args, cType(p.Type))
	}
	return args, nil
}

// cType spells t as C declares it: "struct task_struct *", "long int".
func cType(t btf.Type) string {
	switch t := t.(type) {
	case *btf.Pointer:
		return cType(t.Target) + " *"
	case *btf.Const:
		return "const " + cType(t.Type)
	case *btf.Volatile:
		return "volatile " + cType(t.Type)
	case *btf.Struct:
		return "struct " + t.Name
	case *btf.Union:
		return "union " + t.Name
	case *btf.Enum:
		return "enum " + t.Name
	case *btf.Void:
		return "void"
	default:
		return t.TypeName()
	}
}

func hasPrefix(have, want []string) bool {
	if len(have) < len(want) {
		return false
	}
	for i := range want {
		if have[i] != want[i] {
			return false
		}
	}
	return true
}
