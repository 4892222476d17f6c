package bpf

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
)

// attachment is one place the recorder attaches a program, with the
// program's variants: a tracepoint's arguments differ between kernels, and
// a variant is loaded only where the running kernel's prototype (its
// btf_trace_<name> typedef) starts with the arguments it reads, so that it
// means the same thing on every kernel. The first variant that fits is
// loaded.
type attachment struct {
	Tracepoint string
	Variants   []variant
	// Feature is what the exporter lacks when no variant fits this
	// kernel; "" means the recorder cannot run without it.
	Feature string
}

// variant is a program (its C function name) and the tracepoint arguments
// it reads after the context, as C types.
type variant struct {
	Program string
	Args    []string
}

// Feature names, as in flightrec_recorder_kernel_feature.
const (
	FeatureOOMKill   = "oom_kill"   // OOM-killer victims are marked in the rings (mark_victim)
	FeatureGroupDead = "group_dead" // sched_process_exit says which thread ends the process (after 6.12)
)

var (
	regsAndID = []string{"struct pt_regs *", "long int"}
	cgroupArg = []string{"struct cgroup *", "const char *"}
)

// attachments lists every program of recorder.bpf.c by where it attaches.
var attachments = []attachment{
	{Tracepoint: "sys_enter", Variants: []variant{{recorderProgSysEnter, regsAndID}}},
	{Tracepoint: "sys_exit", Variants: []variant{{recorderProgSysExit, regsAndID}}},
	{Tracepoint: "sched_process_exit", Variants: []variant{
		{recorderProgProcessExit, []string{"struct task_struct *", "bool"}},
		{recorderProgProcessExitLive, []string{"struct task_struct *"}},
	}},
	{Tracepoint: "signal_deliver", Variants: []variant{{recorderProgSignalDeliver, []string{"int", "struct kernel_siginfo *", "struct k_sigaction *"}}}},
	{Tracepoint: "mark_victim", Feature: FeatureOOMKill, Variants: []variant{{recorderProgMarkVictim, []string{"struct task_struct *", "uid_t"}}}},
	{Tracepoint: "cgroup_mkdir", Variants: []variant{{recorderProgCgroupMkdir, cgroupArg}}},
	{Tracepoint: "cgroup_rmdir", Variants: []variant{{recorderProgCgroupRmdir, cgroupArg}}},
	{Tracepoint: "sys_enter", Variants: []variant{{recorderProgFindSelf, regsAndID}}}, // only while starting
}

// Variants are the programs chosen for the running kernel.
type Variants struct {
	Programs []string        // programs to load, sorted
	Features map[string]bool // optional features: available or not
	Missing  []string        // why each unavailable feature is missing
}

// chooseVariants picks, for every attachment, the first variant whose
// arguments the kernel's prototype starts with. A required tracepoint that
// nothing fits is an error naming both prototypes.
func chooseVariants(kernel *btf.Spec) (Variants, error) {
	v := Variants{Features: map[string]bool{}}
	var errs []error
	for _, a := range attachments {
		args, err := tracepointArgs(kernel, a.Tracepoint)
		chosen := ""
		for _, vt := range a.Variants {
			if err == nil && hasPrefix(args, vt.Args) {
				chosen = vt.Program
				break
			}
		}
		if a.Feature != "" {
			v.Features[a.Feature] = chosen != ""
		}
		if chosen != "" {
			v.Programs = append(v.Programs, chosen)
			continue
		}
		why := fmt.Sprintf("tracepoint %s is not in this kernel", a.Tracepoint)
		if err == nil {
			var reads []string
			for _, vt := range a.Variants {
				reads = append(reads, "("+strings.Join(vt.Args, ", ")+")")
			}
			why = fmt.Sprintf("tracepoint %s has arguments (%s) on this kernel; the recorder reads %s",
				a.Tracepoint, strings.Join(args, ", "), strings.Join(reads, " or "))
		}
		if a.Feature == "" {
			errs = append(errs, errors.New(why))
		} else {
			v.Missing = append(v.Missing, a.Feature+": "+why)
		}
	}
	sort.Strings(v.Programs)
	v.Features[FeatureGroupDead] = v.loads(recorderProgProcessExit)
	return v, errors.Join(errs...)
}

func (v Variants) loads(program string) bool {
	i := sort.SearchStrings(v.Programs, program)
	return i < len(v.Programs) && v.Programs[i] == program
}

// force loads program in place of the variant chosen for its attachment
// (tests run older kernels' programs on this one).
func (v *Variants) force(program string) {
	for _, a := range attachments {
		for _, vt := range a.Variants {
			if vt.Program != program {
				continue
			}
			for i, name := range v.Programs {
				for _, other := range a.Variants {
					if name == other.Program {
						v.Programs[i] = program
					}
				}
			}
		}
	}
	sort.Strings(v.Programs)
	v.Features[FeatureGroupDead] = v.loads(recorderProgProcessExit)
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
