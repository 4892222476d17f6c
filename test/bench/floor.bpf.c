//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs on the recorder's hooks, loaded by floor.go.
 *
 * The floor: empty programs. Whatever a syscall costs more with these
 * attached is the price of any tp_btf tracer on sys_enter/sys_exit (the
 * syscall slow path, the tracepoint, the program call), which no recorder
 * can go below.
 *
 * The essentials: what any recorder that keeps a syscall's time, duration
 * and payload must do at least, and nothing else: the recorder's own scope
 * check (scope.h), a clock read at entry and at exit, and the payload copy
 * the recorder makes for openat (the path) and write (up to 64 bytes), into
 * a per-CPU scratch buffer. No ring, no record, no per-thread state, no
 * counters. The exporter's cost over the essentials is what its design
 * adds; the essentials' cost over the floor is set by the kernel's helpers.
 */
#include "../../bpf/kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

volatile const u64 parent_cgroup_id = 1;
volatile const u32 parent_level = 0;
volatile const u32 openat_nr = 257;
volatile const u32 write_nr = 1;

#include "../../bpf/scope.h"

struct scratch {
	u64 ts;
	u64 duration;
	u8 payload[128];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct scratch);
	__uint(max_entries, 1);
} scratch SEC(".maps");

/* The CPU's scratch buffer when the current task is recorded, else NULL. */
static __always_inline struct scratch *scratch_in_scope(void)
{
	u32 zero = 0;
	u64 cgid;

	if (!task_in_scope(bpf_get_current_task_btf(), &cgid))
		return NULL;
	return bpf_map_lookup_elem(&scratch, &zero);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(floor_sys_enter)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(floor_sys_exit)
{
	return 0;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(essential_sys_enter, struct pt_regs *regs, long id)
{
	struct scratch *s = scratch_in_scope();

	if (!s)
		return 0;
	s->ts = bpf_ktime_get_ns();
#if defined(__TARGET_ARCH_x86)
	u64 a1 = regs->si, a2 = regs->dx;
#else
	u64 a1 = regs->regs[1], a2 = regs->regs[2];
#endif
	if (id == openat_nr) {
		bpf_probe_read_user_str(s->payload, sizeof(s->payload), (void *)a1);
	} else if (id == write_nr) {
		u64 n = a2 < 64 ? a2 : 64;

		barrier_var(n);
		if (n > 0 && n <= 64)
			bpf_probe_read_user(s->payload, n, (void *)a1);
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(essential_sys_exit, struct pt_regs *regs, long ret)
{
	struct scratch *s = scratch_in_scope();

	if (s)
		s->duration = bpf_ktime_get_ns() - s->ts;
	return 0;
}
