package bpf

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/cilium/ebpf/btf"
	"github.com/flightrec/flightrec_exporter/internal/testenv"
)

// kernelTypes builds a BTF spec holding btf_trace_<name> typedefs with the
// given argument types (after the context pointer), as a kernel's BTF has.
func kernelTypes(t *testing.T, tracepoints map[string][]btf.Type) *btf.Spec {
	t.Helper()
	var types []btf.Type
	for name, args := range tracepoints {
		params := []btf.FuncParam{{Name: "__data", Type: &btf.Pointer{Target: &btf.Void{}}}}
		for _, a := range args {
			params = append(params, btf.FuncParam{Type: a})
		}
		types = append(types, &btf.Typedef{
			Name: "btf_trace_" + name,
			Type: &btf.Pointer{Target: &btf.FuncProto{Return: &btf.Void{}, Params: params}},
		})
	}
	b, err := btf.NewBuilder(types, nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b.Marshal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := btf.LoadSpecFromReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// The argument types of the tracepoints as kernels declare them.
var (
	tTask     = &btf.Pointer{Target: &btf.Struct{Name: "task_struct"}}
	tRegs     = &btf.Pointer{Target: &btf.Struct{Name: "pt_regs"}}
	tCgroup   = &btf.Pointer{Target: &btf.Struct{Name: "cgroup"}}
	tInt      = &btf.Int{Name: "int", Size: 4, Encoding: btf.Signed}
	tLong     = &btf.Int{Name: "long int", Size: 8, Encoding: btf.Signed}
	tBool     = &btf.Typedef{Name: "bool", Type: &btf.Int{Name: "_Bool", Size: 1, Encoding: btf.Bool}}
	tUID      = &btf.Typedef{Name: "uid_t", Type: &btf.Int{Name: "unsigned int", Size: 4}}
	tPath     = &btf.Pointer{Target: &btf.Const{Type: &btf.Int{Name: "char", Size: 1, Encoding: btf.Char}}}
	tSiginfo  = &btf.Pointer{Target: &btf.Struct{Name: "kernel_siginfo"}}
	tSigact   = &btf.Pointer{Target: &btf.Struct{Name: "k_sigaction"}}
	tracepts  = map[string][]btf.Type{"sys_enter": {tRegs, tLong}, "sys_exit": {tRegs, tLong}, "signal_deliver": {tInt, tSiginfo, tSigact}, "cgroup_mkdir": {tCgroup, tPath}, "cgroup_rmdir": {tCgroup, tPath}}
	allLoaded = []string{"cgroup_mkdir", "cgroup_rmdir", "find_self", "signal_deliver", "sys_enter", "sys_exit"}
)

func with(extra map[string][]btf.Type) map[string][]btf.Type {
	m := map[string][]btf.Type{}
	for k, v := range tracepts {
		m[k] = v
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func TestVariantsFollowTheKernelsPrototypes(t *testing.T) {
	for _, tc := range []struct {
		name      string
		tps       map[string][]btf.Type
		want      []string // programs besides the ones every kernel loads
		oom, dead bool
		missing   string
	}{
		{
			name: "6.18: sched_process_exit passes group_dead",
			tps:  with(map[string][]btf.Type{"sched_process_exit": {tTask, tBool}, "mark_victim": {tTask, tUID}}),
			want: []string{"mark_victim", "process_exit"}, oom: true, dead: true,
		},
		{
			name: "6.1 and 6.12: the task only",
			tps:  with(map[string][]btf.Type{"sched_process_exit": {tTask}, "mark_victim": {tTask, tUID}}),
			want: []string{"mark_victim", "process_exit_live"}, oom: true,
		},
		{
			name: "5.10: mark_victim passes a pid",
			tps:  with(map[string][]btf.Type{"sched_process_exit": {tTask}, "mark_victim": {tInt}}),
			want: []string{"process_exit_live"}, missing: "mark_victim has arguments (int) on this kernel",
		},
		{
			name: "no OOM tracepoint",
			tps:  with(map[string][]btf.Type{"sched_process_exit": {tTask}}),
			want: []string{"process_exit_live"}, missing: "mark_victim is not in this kernel",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := chooseVariants(kernelTypes(t, tc.tps))
			if err != nil {
				t.Fatal(err)
			}
			want := append(slices.Clone(allLoaded), tc.want...)
			slices.Sort(want)
			if !slices.Equal(v.Programs, want) {
				t.Errorf("programs %v, want %v", v.Programs, want)
			}
			if v.Features[FeatureOOMKill] != tc.oom || v.Features[FeatureGroupDead] != tc.dead {
				t.Errorf("features %v, want oom_kill=%v group_dead=%v", v.Features, tc.oom, tc.dead)
			}
			if tc.missing == "" && len(v.Missing) > 0 || tc.missing != "" && (len(v.Missing) != 1 || !strings.Contains(v.Missing[0], tc.missing)) {
				t.Errorf("missing %q, want one naming %q", v.Missing, tc.missing)
			}
		})
	}
}

func TestRequiredTracepointThatChangedIsNamed(t *testing.T) {
	tps := with(map[string][]btf.Type{"sched_process_exit": {tInt}, "mark_victim": {tTask, tUID}})
	_, err := chooseVariants(kernelTypes(t, tps))
	if err == nil {
		t.Fatal("a sched_process_exit without the task was accepted")
	}
	want := "tracepoint sched_process_exit has arguments (int) on this kernel; the recorder reads (struct task_struct *, bool) or (struct task_struct *)"
	if err.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", err, want)
	}
	delete(tps, "signal_deliver")
	if _, err := chooseVariants(kernelTypes(t, tps)); err == nil || !strings.Contains(err.Error(), "tracepoint signal_deliver is not in this kernel") {
		t.Errorf("a kernel without signal_deliver: %v", err)
	}
}

// Every program of the collection is in the table, so none is loaded
// without its prototype checked.
func TestEveryProgramHasAPrototype(t *testing.T) {
	spec, err := loadRecorder()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, a := range attachments {
		for _, vt := range a.Variants {
			known[vt.Program] = true
		}
	}
	for name := range spec.Programs {
		if !known[name] {
			t.Errorf("program %s is not in bpf.attachments", name)
		}
	}
	for name := range known {
		if _, ok := spec.Programs[name]; !ok {
			t.Errorf("bpf.attachments names %s, which the object does not have", name)
		}
	}
}

// The running kernel's prototypes fit: on this host, every tracepoint has
// a variant. Needs no privileges, only the kernel's BTF.
func TestVariantsOnThisKernel(t *testing.T) {
	if _, err := os.Stat("/sys/kernel/btf/vmlinux"); err != nil {
		testenv.SkipOrFail(t, "no kernel BTF (/sys/kernel/btf/vmlinux)")
	}
	kernel, err := btf.LoadKernelSpec()
	if err != nil {
		t.Fatal(err)
	}
	v, err := chooseVariants(kernel)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("programs %v, features %v", v.Programs, v.Features)
}

// Every probe finds its feature on the running kernel, which the recorder
// runs on: a probe that fails here would refuse a good kernel.
func TestRequiredFeaturesOnThisKernel(t *testing.T) {
	testenv.RequireRoot(t)
	for _, f := range requiredFeatures {
		if err := f.Probe(); err != nil {
			t.Errorf("%s: %v", f.What, err)
		}
	}
	if err := CheckKernel(); err != nil {
		t.Error(err)
	}
}
