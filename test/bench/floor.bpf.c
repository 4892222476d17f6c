//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The overhead floor: empty programs on the recorder's hooks. Whatever a
 * syscall costs more with these attached is the price of any tp_btf tracer
 * on sys_enter/sys_exit (the syscall slow path, the tracepoint, the program
 * call), which no recorder can go below. Loaded by floor.go.
 */

#define SEC(name) __attribute__((section(name), used))

typedef unsigned long long u64;

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp_btf/sys_enter")
int floor_sys_enter(u64 *ctx)
{
	return 0;
}

SEC("tp_btf/sys_exit")
int floor_sys_exit(u64 *ctx)
{
	return 0;
}
