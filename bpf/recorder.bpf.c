//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * flightrec recorder: one ring of recent syscalls per container cgroup.
 *
 * sys_enter writes a record into the ring of the current task's cgroup (the
 * ring is assigned here, at the container's first syscall, from a queue of
 * ready slots that user space keeps filled); sys_exit completes the same
 * record in place. Process exit, fatal signals and OOM kills add records of
 * their own. Nothing here waits for user space.
 */
#include "kernel_types.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "recorder.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define MAX_ERRNO_BITS 4096 /* errnos 0..4095 */

/* Load-time settings, rewritten by the loader (bpf/loader.go). */
volatile const u32 small_shift = 8;        /* log2(records of a small ring) */
volatile const u32 ring_shift = 12;        /* log2(records of a large ring) */
volatile const u64 parent_cgroup_id = 1;   /* containers are strict descendants */
volatile const u32 parent_level = 0;       /* cgroup level of the parent */
volatile const u64 self_cookie = 0;        /* find_self: the exporter's marker prctl option */
volatile const u32 prctl_nr = 157;         /* find_self: prctl on this architecture */
volatile const u32 capture_bytes = 64;     /* 0: buffers are never copied */
volatile const u32 count_errors = 1;       /* 0: the errors collector is off, failures are not counted */
volatile const u32 execve_nr = 59;         /* execve and execveat on this architecture: the */
volatile const u32 execveat_nr = 322;      /* runtime's init starts the application with one */
volatile const u32 runtime_comm_count = 0; /* entries of runtime_comms in use */
volatile const struct comm_pattern runtime_comms[RUNTIME_COMMS_MAX] = {};
volatile const u32 incident_context = 8;              /* records kept before each incident (0..32) */
volatile const u32 incident_first = 16;               /* tape entries for a ring's first incidents */
volatile const u32 incident_latest = 96;              /* tape entries for the latest incidents, large rings; 0: no tape */
volatile const u32 incident_latest_small = 8;         /* the same, small rings */
volatile const u64 incident_interval_ns = 20000000;   /* incidents with context: one per interval... */
volatile const u64 incident_burst_ns = 200000000;     /* ...after a burst of burst/interval */
volatile const u64 incident_errnos[(MAX_ERRNO_BITS + 63) / 64] = {}; /* bitmap: which errnos are incidents */

/* Types that only user space reads, named here so that they are in the
 * object's BTF and bpf2go generates their Go mirrors (-type in gen.go). */
volatile const enum stat_index type_stat_index = STAT_MAX;
volatile const enum event_kind type_event_kind = EV_PROCESS_EXIT;
volatile const enum exit_kind type_exit_kind = EXIT_THREAD;
volatile const enum sc_flag type_sc_flag = SC_WATCH;
volatile const enum cgroup_event_kind type_cgroup_event_kind = CGROUP_EVENT_MKDIR;
volatile const enum main_flag type_main_flag = MAIN_EXITED;
volatile const struct cgroup_event type_cgroup_event = {};
/* The ring maps' value type is otherwise only pointed to: this gives it
 * its size in BTF (and struct record its Go mirror); 8 KiB of .rodata. */
volatile const struct record_chunk type_record_chunk = {};

#include "scope.h"

#define MAX_SYSCALL_NR 1024
#define MAX_ERRNO 4095 /* a failed syscall returns -MAX_ERRNO..-1 */
#define FUTEX_PRIVATE_FLAG 128
#define FUTEX_CLOCK_REALTIME 256
#define ARGV_AREA (PAYLOAD_SIZE - PAYLOAD_ARGV_OFF)
#define ARGV_MAX 20
#define SOCKADDR_MAX 128
/* Signals whose default action ends the process (not CHLD, CONT, STOP,
 * TSTP, TTIN, TTOU, URG, WINCH). */
#define SIGMASK(n) (1ULL << (n))
#define FATAL_SIGNALS (~(SIGMASK(0) | SIGMASK(17) | SIGMASK(18) | SIGMASK(19) | SIGMASK(20) | SIGMASK(21) | \
			 SIGMASK(22) | SIGMASK(23) | SIGMASK(28)))

/*
 * The rings, one map per ring, made by user space as containers come
 * (bpf/pool.go), so that kernel memory follows the containers present. A
 * map holds the ring's records (1 << small_shift or 1 << ring_shift), then
 * its incident tape. Slot s's small map is at key s of small_rings; its
 * large map, once a busy ring is promoted, at key s of large_rings.
 * ring_meta.large says which one the ring is in; a writer reads it once and
 * stays with that map, whose geometry it knows.
 *
 * Every map of one array has the same size (set by the loader), so the
 * verifier inlines a lookup in one (an index check and an add, not a
 * helper call) wherever it sees maps of only one array: each size has its
 * own lookups (small_chunk, large_chunk).
 */
#define RING_MAPS(name)                                                           \
	struct {                                                                  \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                         \
		__type(key, u32);                                                 \
		__uint(max_entries, 1); /* rings, set by the loader */            \
		__array(values, struct {                                          \
			__uint(type, BPF_MAP_TYPE_ARRAY);                         \
			__uint(map_flags, BPF_F_MMAPABLE);                        \
			__type(key, u32);                                         \
			__type(value, struct record_chunk);                       \
			__uint(max_entries, 1); /* chunks, set by the loader */   \
		});                                                               \
	} name SEC(".maps")

RING_MAPS(small_rings);
RING_MAPS(large_rings);

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, u32);
	__type(value, struct ring_meta);
	__uint(max_entries, 1); /* rings, set by the loader */
} rings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__type(key, u64); /* cgroup id */
	__type(value, struct container);
	__uint(max_entries, 1); /* set by the loader */
} containers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__type(value, u32);
	__uint(max_entries, 1); /* rings; user space pushes the slots whose map is ready */
} free_slots SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct inflight);
} inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct last_enter);
	__uint(max_entries, 1);
} last_enter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, struct sc_conf);
	__uint(max_entries, MAX_SYSCALL_NR);
} sc_confs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, u64);
	__uint(max_entries, STAT_MAX);
} stats SEC(".maps");

/* The exporter's own thread group id in the initial pid namespace, found by
 * find_self; the exporter is never recorded. A pid from user space would be
 * wrong in a container's pid namespace. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, u32);
	__uint(max_entries, 1);
} self SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct err_key);
	__type(value, struct err_val);
	__uint(max_entries, 1); /* --collector.errors.max-series */
} errors SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__type(key, struct lat_key);
	__type(value, struct lat_val);
	__uint(max_entries, 1); /* --collector.syscalls.max-series */
} latencies SEC(".maps");

/* A zero latency value that new counters are made from: on the stack it
 * would take 224 of the 512 bytes that sys_exit and put_incident share. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__type(key, u32);
	__type(value, struct lat_val);
	__uint(max_entries, 1);
} lat_zero SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cgroup_events SEC(".maps");

/* Set by put_incident when a record of an incident's run was not where it
 * looked (a per-CPU flag in memory: a counter in a register would make the
 * verifier follow every count apart). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, u32);
	__uint(max_entries, 1);
} tape_missed SEC(".maps");

/* Room to assemble an execve argv before it is copied into a record. */
struct argv_scratch {
	u8 buf[2 * ARGV_AREA];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__type(key, u32);
	__type(value, struct argv_scratch);
	__uint(max_entries, 1);
} scratch SEC(".maps");

static __always_inline void stat_inc(u32 i)
{
	u64 *v = bpf_map_lookup_elem(&stats, &i);
	if (v)
		*v += 1;
}

static __always_inline bool is_self(u64 pid_tgid)
{
	u32 zero = 0;
	u32 *tgid = bpf_map_lookup_elem(&self, &zero);

	return tgid && *tgid == (u32)(pid_tgid >> 32);
}

/* bpf_get_current_pid_tgid() of task t, by two loads instead of a helper call. */
static __always_inline u64 task_pid_tgid(struct task_struct *t)
{
	return ((u64)(u32)t->tgid << 32) | (u32)t->pid;
}

/* The command name of task t, two 8-byte loads instead of a helper call. */
static __always_inline void copy_comm(char *dst, struct task_struct *t)
{
	const u64 *src = (const u64 *)t->comm;

	((u64 *)dst)[0] = src[0];
	((u64 *)dst)[1] = src[1];
}

/* Is comm (16 bytes) one of the container runtime's own processes? */
static __always_inline bool comm_is_runtime(const void *comm)
{
	u64 c0 = ((const u64 *)comm)[0], c1 = ((const u64 *)comm)[1];

	for (u32 i = 0; i < RUNTIME_COMMS_MAX; i++) {
		if (i >= runtime_comm_count)
			break;
		if ((c0 & runtime_comms[i].mask[0]) == runtime_comms[i].val[0] &&
		    (c1 & runtime_comms[i].mask[1]) == runtime_comms[i].val[1])
			return true;
	}
	return false;
}

/* Syscall argument i (0..5) as the syscall entry saved it. i is a constant at
 * every call site, so this is one load. */
static __always_inline u64 syscall_arg(struct pt_regs *regs, int i)
{
#if defined(__TARGET_ARCH_x86)
	switch (i) {
	case 0:
		return regs->di;
	case 1:
		return regs->si;
	case 2:
		return regs->dx;
	case 3:
		return regs->r10;
	case 4:
		return regs->r8;
	default:
		return regs->r9;
	}
#else
	return i == 0 ? regs->orig_x0 : regs->regs[i];
#endif
}

/*
 * Stores to a record's seq, the seqlock word readers check before and after
 * copying a record. x86 keeps stores in program order (TSO) and readers'
 * loads too, so a compiler barrier is all the ordering needed, and a plain
 * store costs ~15 ns less than an atomic exchange; elsewhere the exchange
 * is the full barrier.
 */
#if defined(__TARGET_ARCH_x86)
#define compiler_barrier() asm volatile("" ::: "memory")
static __always_inline void seq_store(u64 *seq, u64 v)
{
	compiler_barrier();
	*(volatile u64 *)seq = v;
	compiler_barrier();
}
#else
static __always_inline void seq_store(u64 *seq, u64 v)
{
	__sync_lock_test_and_set(seq, v);
}
#endif

/* Start the ring in slot for cgroup cgid (see struct ring_meta). */
static __always_inline void start_ring(u32 slot, u64 cgid, u32 setup, u32 main_pid, u32 late)
{
	struct ring_meta *rm = bpf_map_lookup_elem(&rings, &slot);

	if (!rm)
		return;
	rm->created_ns = bpf_ktime_get_ns();
	rm->setup = setup;
	rm->main_pid = main_pid;
	rm->app_seq = 0;
	rm->main_status = 0;
	rm->main_flags = 0;
	rm->late = late;
	rm->cgroup_id = cgid;
}

/* Time in units of 2^20 ns (~1 ms), for container.asked. */
static __always_inline u32 now_units(void)
{
	return (u32)(bpf_ktime_get_ns() >> 20);
}

/* How often an untracked container asks for a ring again: ~0.1 s. */
#define LATE_RETRY_UNITS 100

/*
 * Assign a ring to cgroup cgid, whose first task is tgid; runtime says
 * whether that task is the container runtime's (the ring then starts in
 * its setup phase, see struct ring_meta). With no slot ready, the
 * container is untracked, and asks again later (late_ring).
 */
static __noinline struct container *add_container(u64 cgid, u32 tgid, u32 runtime)
{
	struct container nc = { .slot = SLOT_UNTRACKED };
	struct container *c;
	u32 slot = 0;
	bool got = bpf_map_pop_elem(&free_slots, &slot) == 0;

	if (got)
		nc.slot = slot;
	else
		nc.asked = now_units();
	if (bpf_map_update_elem(&containers, &cgid, &nc, BPF_NOEXIST)) {
		/* Another CPU won the race, or the map is full. */
		if (got)
			bpf_map_push_elem(&free_slots, &slot, 0);
		c = bpf_map_lookup_elem(&containers, &cgid);
		if (!c)
			stat_inc(STAT_CONTAINER_MAP_FULL);
		return c;
	}
	if (got) {
		start_ring(slot, cgid, runtime, runtime ? 0 : tgid, 0);
		stat_inc(STAT_CONTAINERS_ADDED);
	} else {
		stat_inc(STAT_CONTAINERS_UNTRACKED);
	}
	return bpf_map_lookup_elem(&containers, &cgid);
}

/*
 * A container refused a ring at its first syscall (no ring was ready: a
 * burst of starts outran the spares, or the memory budget was spent) asks
 * again from its syscalls and events, at most every LATE_RETRY_UNITS: a
 * ring made ready since, or freed, is its from then on. Its ring starts
 * mid-life, marked late: its main process is not known. Of the CPUs that
 * find it due, the one that moves container.asked on asks. Returns the
 * container's slot, or SLOT_UNTRACKED.
 */
static __noinline u32 late_ring(u64 cgid)
{
	struct container *c = bpf_map_lookup_elem(&containers, &cgid);
	u32 slot, asked, now;

	if (!c)
		return SLOT_UNTRACKED;
	slot = *(volatile u32 *)&c->slot;
	if (slot != SLOT_UNTRACKED)
		return slot; /* given one since, from another thread */
	now = now_units();
	asked = *(volatile u32 *)&c->asked;
	if (now - asked < LATE_RETRY_UNITS || __sync_val_compare_and_swap(&c->asked, asked, now) != asked)
		return SLOT_UNTRACKED;
	if (bpf_map_pop_elem(&free_slots, &slot))
		return SLOT_UNTRACKED;
	start_ring(slot, cgid, 0, 0, 1);
	*(volatile u32 *)&c->slot = slot;
	stat_inc(STAT_CONTAINERS_ADDED);
	stat_inc(STAT_CONTAINERS_LATE);
	return slot;
}

/* The ring of a cgroup, assigned on first sight (see add_container), or
 * later (late_ring). */
static __always_inline struct ring_meta *ring_of(u64 cgid, u32 *slot, u32 tgid, bool runtime)
{
	struct container *c = bpf_map_lookup_elem(&containers, &cgid);

	if (!c) {
		c = add_container(cgid, tgid, runtime);
		if (!c)
			return NULL;
	}
	*slot = c->slot;
	if (*slot == SLOT_UNTRACKED)
		*slot = late_ring(cgid);
	if (*slot == SLOT_UNTRACKED) {
		stat_inc(STAT_UNTRACKED_SYSCALLS);
		return NULL;
	}
	return bpf_map_lookup_elem(&rings, slot);
}

/* Chunk key of the small map of the ring in slot. Lookups in small maps
 * are made here only, and in large maps in large_chunk only: where the
 * verifier sees maps of one array, it inlines the lookup. clang would
 * merge the two where they meet (one call, whose map is either): the asm
 * after each, different for each size, keeps them apart. */
static __always_inline struct record_chunk *small_chunk(u32 slot, u32 key)
{
	void *m = bpf_map_lookup_elem(&small_rings, &slot);
	struct record_chunk *c;

	if (!m)
		return NULL;
	c = bpf_map_lookup_elem(m, &key);
	asm volatile("" : "+r"(c) : "i"(0)); /* kept apart from large_chunk's */
	return c;
}

/* Chunk key of the large map of the ring in slot. */
static __always_inline struct record_chunk *large_chunk(u32 slot, u32 key)
{
	void *m = bpf_map_lookup_elem(&large_rings, &slot);
	struct record_chunk *c;

	if (!m)
		return NULL;
	c = bpf_map_lookup_elem(m, &key);
	asm volatile("" : "+r"(c) : "i"(1)); /* kept apart from small_chunk's */
	return c;
}

/* Is the ring (whose bookkeeping is rm) in its large map? Read once: a
 * promotion switches it between two writes, and each writer stays with
 * the map it chose, whose geometry it knows. */
static __always_inline bool ring_large(struct ring_meta *rm)
{
	return *(volatile u32 *)&rm->large;
}

/* Record seq of the ring in slot, where its map keeps it, and the chunk
 * that holds it (put_incident takes it: one lookup fewer). */
static __always_inline struct record *ring_record_in(struct ring_meta *rm, u32 slot, u64 seq,
						     struct record_chunk **chunk)
{
	struct record_chunk *c;
	u32 i;

	if (ring_large(rm)) {
		i = (u32)seq & ((1U << ring_shift) - 1);
		c = large_chunk(slot, i / RING_CHUNK);
	} else {
		i = (u32)seq & ((1U << small_shift) - 1);
		c = small_chunk(slot, i / RING_CHUNK);
	}
	*chunk = c;
	return c ? &c->r[i & (RING_CHUNK - 1)] : NULL;
}

/*
 * Claim the next record of a ring and mark it as being written. The caller
 * fills it and publishes it with publish(). *chunk is the chunk that holds
 * it.
 */
static __always_inline struct record *reserve_in(struct ring_meta *rm, u32 slot, u64 *seq,
						 struct record_chunk **chunk)
{
	struct record *r;

	*seq = __sync_fetch_and_add(&rm->head, 1) + 1;
	r = ring_record_in(rm, slot, *seq, chunk);
	if (!r)
		return NULL;
	seq_store(&r->seq, 0);
	return r;
}

static __always_inline struct record *reserve(struct ring_meta *rm, u32 slot, u64 *seq)
{
	struct record_chunk *c;

	return reserve_in(rm, slot, seq, &c);
}

static __always_inline void publish(struct record *r, u64 seq, bool finished)
{
	seq_store(&r->seq, (seq << 1) | (finished ? 1 : 0));
}

/* Is a syscall that returned ret (< 0) an incident? */
static __always_inline bool incident_errno(long ret)
{
	u64 err = (u64)-ret;

	if (err >= MAX_ERRNO_BITS)
		return false;
	return (incident_errnos[err >> 6] >> (err & 63)) & 1;
}

/*
 * Copy record src, which should be record want of the ring, to dst, a
 * record of the tape, under the seqlock: the copy is published only if src
 * was want, whole, before and after it was copied; otherwise dst is left
 * as it was, stale (its seq is not want's), and readers ignore it. Records
 * are 8-byte aligned: the copy moves words (through void pointers, clang
 * would move bytes, and take twice as long). False when src was not want.
 */
static __always_inline bool tape_copy(struct record *dst, struct record *src, u64 want)
{
	u64 before = *(volatile u64 *)&src->seq;

	if (before >> 1 != want)
		return false; /* overwritten, or being written */
	seq_store(&dst->seq, 0);
	__builtin_memcpy(&dst->ts_enter, &src->ts_enter, sizeof(struct record) - sizeof(src->seq));
	if (*(volatile u64 *)&src->seq != before)
		return false;
	seq_store(&dst->seq, before);
	return true;
}

/* Record want of the small map of the ring in slot, if it is there. */
static __always_inline struct record *small_src(u32 slot, u64 want)
{
	u32 i = (u32)want & ((1U << small_shift) - 1);
	struct record_chunk *c = small_chunk(slot, i / RING_CHUNK);
	struct record *r;

	if (!c)
		return NULL;
	r = &c->r[i & (RING_CHUNK - 1)];
	return (*(volatile u64 *)&r->seq) >> 1 == want ? r : NULL;
}

/*
 * An incident's run of records that put_incident copies again, from a
 * promoted ring's small map, small: just after the switch, records before
 * it may still be only there. Record want - j of the ring in slot goes to
 * record base + j of its large map's tape.
 */
struct tape_retry {
	u64 want;
	u32 slot;
	u32 base;
};

/* bpf_loop callback: copy record want - j from the small map, unless the
 * tape has it. Rare, so plain lookups, one a record. */
static long tape_retry_copy(u64 j, void *ctx)
{
	struct tape_retry *t = ctx;
	u64 want = t->want - j;
	u32 d = t->base + (u32)j;
	struct record_chunk *dc = large_chunk(t->slot, d / RING_CHUNK);
	struct record *dst, *src;

	if (!dc)
		return 1;
	dst = &dc->r[d & (RING_CHUNK - 1)];
	if (*(volatile u64 *)&dst->seq >> 1 == want)
		return 0;
	src = small_src(t->slot, want);
	if (src)
		tape_copy(dst, src, want);
	return 0;
}

/* The run of records that copy_run copies: record pos of a ring of
 * records records (the incident, seq) and the n before it, to records base
 * .. base + n of its map (the tape). */
struct tape_run {
	u64 seq;
	u32 records;
	u32 pos;
	u32 base;
	u32 n;
};

/*
 * Copy run r: src0 is the ring's chunk that holds the incident, src1 the
 * one before it (or src0, if the run does not reach into it), dst0 and
 * dst1 the tape's chunks that hold base and base + n. A global function:
 * verified once, whichever maps the chunks are in. Returns 1 when a record
 * of the run before the incident was not where it looked (overwritten, or
 * being written), 2 (or 3) when the incident itself was not.
 */
__noinline int copy_run(struct record_chunk *src0, struct record_chunk *src1, struct record_chunk *dst0,
			struct record_chunk *dst1, struct tape_run *run)
{
	u32 records, pos, base, n, src_key, dst_key, zero = 0, *missed;
	u64 seq;

	missed = bpf_map_lookup_elem(&tape_missed, &zero);
	if (!src0 || !src1 || !dst0 || !dst1 || !run || !missed)
		return 0;
	seq = run->seq;
	records = run->records;
	pos = run->pos;
	base = run->base;
	n = run->n;
	src_key = pos / RING_CHUNK;
	dst_key = base / RING_CHUNK;
	*missed = 0;
	for (u32 j = 0; j <= 32; j++) {
		u32 s = (pos - j) & (records - 1), d = base + j;
		struct record_chunk *sc = s / RING_CHUNK == src_key ? src0 : src1;
		struct record_chunk *dc = d / RING_CHUNK == dst_key ? dst0 : dst1;

		if (j > n)
			break;
		if (!tape_copy(&dc->r[d & (RING_CHUNK - 1)], &sc->r[s & (RING_CHUNK - 1)], seq - j))
			*missed |= j ? 1 : 2;
	}
	return *missed;
}

/*
 * Put record seq of the ring in slot, an incident, on the ring's tape with
 * the incident_context records before it. A ring's first incidents fill
 * the entries that are never overwritten; later ones go round the latest
 * entries. Over the rate (a storm), an incident keeps its own record in
 * the latest entries but no context. A global function: verified once,
 * whatever calls it. chunk is the chunk of the ring that holds record
 * seq, which the caller has at hand.
 *
 * The run seq - n .. seq lies in at most two chunks of the ring (n <= 32 <
 * RING_CHUNK * 2), chunk and the one before it, and its copy, base .. base
 * + n, in at most two of the tape: three lookups (inlined), whatever n.
 */
__noinline int put_incident(u32 slot, u64 seq, u64 now, struct record_chunk *chunk)
{
	struct record_chunk *src1, *dst0, *dst1;
	struct tape_run run = {};
	struct ring_meta *rm;
	u32 latest, src_key, dst_key, dst_end, src_start;
	u64 tat, e;
	bool context, large;
	int missed;

	if (!incident_latest || !chunk)
		return 0;
	rm = bpf_map_lookup_elem(&rings, &slot);
	if (!rm)
		return 0;
	large = ring_large(rm);
	run.records = large ? 1U << ring_shift : 1U << small_shift;
	latest = large ? incident_latest : incident_latest_small;
	if (!latest)
		return 0;
	/* GCRA: a burst, then one per interval. Racy between CPUs on purpose:
	 * a few extra copies in a storm cost less than an atomic here. The
	 * storm's path (no context) has one atomic, latest_head, which also
	 * counts its incidents. */
	tat = rm->incident_tat;
	context = tat <= now + incident_burst_ns;
	e = incident_first;
	if (context) {
		rm->incident_tat = (tat > now ? tat : now) + incident_interval_ns;
		__sync_fetch_and_add(&rm->kept, 1);
		stat_inc(STAT_INCIDENTS_KEPT);
		if (rm->first_taken < incident_first)
			e = __sync_fetch_and_add(&rm->first_taken, 1);
		run.n = incident_context;
		if (run.n >= seq)
			run.n = seq - 1;
	} else {
		stat_inc(STAT_INCIDENTS_SUPPRESSED);
	}
	if (e >= incident_first)
		e = incident_first + (u32)__sync_fetch_and_add(&rm->latest_head, 1) % latest;
	run.seq = seq;
	run.base = run.records + (u32)e * (incident_context + 1);
	run.pos = (u32)seq & (run.records - 1);
	src_key = run.pos / RING_CHUNK;
	src_start = ((run.pos - run.n) & (run.records - 1)) / RING_CHUNK;
	dst_key = run.base / RING_CHUNK;
	dst_end = (run.base + run.n) / RING_CHUNK;
	if (large) {
		dst0 = large_chunk(slot, dst_key);
		dst1 = dst_end == dst_key ? dst0 : large_chunk(slot, dst_end);
		src1 = src_start == src_key ? chunk : large_chunk(slot, src_start);
	} else {
		dst0 = small_chunk(slot, dst_key);
		dst1 = dst_end == dst_key ? dst0 : small_chunk(slot, dst_end);
		src1 = src_start == src_key ? chunk : small_chunk(slot, src_start);
	}
	missed = copy_run(chunk, src1, dst0, dst1, &run);
	/* A promoted ring's small map, while it is still there, may hold
	 * what the large one missed. */
	if (missed && large && bpf_map_lookup_elem(&small_rings, &slot)) {
		struct tape_retry retry = { .want = seq, .slot = slot, .base = run.base };

		bpf_loop(run.n + 1, tape_retry_copy, &retry, 0);
	}
	/* The incident itself overwritten before it reached the tape (its
	 * thread stalled while the ring turned over): the caller records it
	 * again into entry e (put_own). */
	if ((missed & 2) && dst0 && (*(volatile u64 *)&dst0->r[run.base & (RING_CHUNK - 1)].seq) >> 1 != seq)
		return (int)e + 1;
	return 0;
}

/*
 * Put record seq of the ring in slot, held by chunk, into tape entry e as
 * its incident: an incident recorded again because its record was
 * overwritten before put_incident copied it (see put_incident's return).
 * Its context is gone with it.
 */
__noinline int put_own(u32 slot, u64 seq, u32 e, struct record_chunk *chunk)
{
	struct record_chunk *dst;
	struct ring_meta *rm;
	u32 records, base;
	bool large;

	if (!chunk)
		return 0;
	rm = bpf_map_lookup_elem(&rings, &slot);
	if (!rm)
		return 0;
	large = ring_large(rm);
	records = large ? 1U << ring_shift : 1U << small_shift;
	base = records + e * (incident_context + 1);
	dst = large ? large_chunk(slot, base / RING_CHUNK) : small_chunk(slot, base / RING_CHUNK);
	if (dst)
		tape_copy(&dst->r[base & (RING_CHUNK - 1)], &chunk->r[(u32)seq & (RING_CHUNK - 1)], seq);
	return 0;
}

/* The ring of the thread's cgroup, through the thread's cache. */
static __always_inline struct ring_meta *ring_cached(struct inflight *in, u64 cgid, u32 *slot, u32 tgid, bool runtime)
{
	if (in->cgroup_id != cgid) {
		struct container *c = bpf_map_lookup_elem(&containers, &cgid);

		if (!c)
			c = add_container(cgid, tgid, runtime);
		if (!c)
			return NULL; /* map full: counted, not cached */
		in->cgroup_id = cgid;
		in->slot = c->slot;
	}
	*slot = in->slot;
	if (*slot == SLOT_UNTRACKED)
		*slot = in->slot = late_ring(cgid);
	if (*slot == SLOT_UNTRACKED) {
		stat_inc(STAT_UNTRACKED_SYSCALLS);
		return NULL;
	}
	return bpf_map_lookup_elem(&rings, slot);
}

static __always_inline void fill_common(struct record *r, u64 pid_tgid, s32 nr, u64 ts)
{
	r->ts_enter = ts;
	r->ts_exit = 0;
	r->pid = pid_tgid >> 32;
	r->tid = (u32)pid_tgid;
	r->cpu = bpf_get_smp_processor_id();
	r->nr = nr;
	r->ret = 0;
	r->len1 = 0;
	r->len2 = 0;
	r->layout = LAYOUT_NONE;
	r->pflags = 0;
}

static __always_inline u64 arg_of(struct record *r, u8 i)
{
	if (i < 6)
		return r->args[i];
	return 0;
}

static __always_inline void read_str1(struct record *r, u32 size, u64 ptr)
{
	long n;

	if (size == PAYLOAD_SIZE)
		n = bpf_probe_read_user_str(r->payload, PAYLOAD_SIZE, (void *)ptr);
	else if (size == PAYLOAD_STR2_OFF)
		n = bpf_probe_read_user_str(r->payload, PAYLOAD_STR2_OFF, (void *)ptr);
	else
		n = bpf_probe_read_user_str(r->payload, PAYLOAD_ARGV_OFF, (void *)ptr);
	if (n > 0) {
		r->len1 = n - 1;
		r->pflags &= ~PF_STR1_FAULT;
		if (n == size)
			r->pflags |= PF_STR1_TRUNC;
	} else if (ptr) {
		r->pflags |= PF_STR1_FAULT;
	}
}

static __always_inline u32 str1_size(u8 layout)
{
	if (layout == LAYOUT_STR2)
		return PAYLOAD_STR2_OFF;
	if (layout == LAYOUT_EXEC)
		return PAYLOAD_ARGV_OFF;
	return PAYLOAD_SIZE;
}

static __always_inline void capture_argv(struct record *r, u64 argvp)
{
	u32 zero = 0, off = 0;
	struct argv_scratch *s = bpf_map_lookup_elem(&scratch, &zero);
	bool complete = false;

	if (!s)
		return;
	for (int i = 0; i < ARGV_MAX; i++) {
		u64 p = 0;
		long n;

		if (bpf_probe_read_user(&p, sizeof(p), (void *)(argvp + i * sizeof(u64))))
			break;
		if (!p) {
			complete = true;
			break;
		}
		if (off >= ARGV_AREA)
			break;
		n = bpf_probe_read_user_str(&s->buf[off], ARGV_AREA, (void *)p);
		if (n <= 0)
			break;
		off += n;
	}
	if (off > ARGV_AREA) {
		off = ARGV_AREA;
		complete = false;
	}
	bpf_probe_read_kernel(r->payload + PAYLOAD_ARGV_OFF, ARGV_AREA, s->buf);
	r->len2 = off;
	if (!complete)
		r->pflags |= PF_ARGV_TRUNC;
}

/*
 * Bound checks on a length passed to a helper are made on a 64-bit copy
 * kept opaque with barrier_var, so that the compiler cannot move the check
 * to a narrower register than the one the verifier sees at the call.
 */
static __always_inline void capture_sockaddr(struct record *r, u64 ptr, u32 len, u32 max)
{
	u64 n = len < max ? len : max;

	barrier_var(n);
	if (!ptr || n == 0 || n > SOCKADDR_MAX)
		return;
	if (bpf_probe_read_user(r->payload, n, (void *)ptr) == 0)
		r->len1 = n;
	else
		stat_inc(STAT_PAYLOAD_FAULTS);
}

static __always_inline void capture_buf(struct record *r, u64 ptr, u64 len, bool after_sockaddr)
{
	u32 max = after_sockaddr ? PAYLOAD_SIZE - PAYLOAD_SA_BUF_OFF : PAYLOAD_SIZE;
	u64 n;

	if (!ptr || !len || !capture_bytes)
		return;
	if (max > capture_bytes)
		max = capture_bytes;
	n = len < max ? len : max;
	if (len > n)
		r->pflags |= PF_BUF_TRUNC;
	barrier_var(n);
	if (after_sockaddr) {
		if (n > PAYLOAD_SIZE - PAYLOAD_SA_BUF_OFF)
			return;
		if (bpf_probe_read_user(r->payload + PAYLOAD_SA_BUF_OFF, n, (void *)ptr) == 0)
			r->len2 = n;
	} else {
		if (n > PAYLOAD_SIZE)
			return;
		if (bpf_probe_read_user(r->payload, n, (void *)ptr) == 0)
			r->len1 = n;
	}
}

static __always_inline void capture_enter(struct record *r, struct sc_conf *c)
{
	if (c->argv != ARG_NONE) {
		r->layout = LAYOUT_EXEC;
		read_str1(r, PAYLOAD_ARGV_OFF, arg_of(r, c->str1));
		capture_argv(r, arg_of(r, c->argv));
		return;
	}
	if (c->str1 != ARG_NONE) {
		if (c->str2 == ARG_NONE) {
			r->layout = LAYOUT_STR;
			read_str1(r, PAYLOAD_SIZE, arg_of(r, c->str1));
			return;
		}
		r->layout = LAYOUT_STR2;
		read_str1(r, PAYLOAD_STR2_OFF, arg_of(r, c->str1));
		long n = bpf_probe_read_user_str(r->payload + PAYLOAD_STR2_OFF,
						 PAYLOAD_SIZE - PAYLOAD_STR2_OFF, (void *)arg_of(r, c->str2));
		if (n > 0) {
			r->len2 = n - 1;
			if (n == PAYLOAD_SIZE - PAYLOAD_STR2_OFF)
				r->pflags |= PF_STR2_TRUNC;
		}
		return;
	}
	bool sa = c->sa != ARG_NONE && !(c->flags & SC_SA_AT_EXIT) && arg_of(r, c->sa);
	bool buf = c->buf != ARG_NONE && !(c->flags & SC_BUF_AT_EXIT);
	if (sa && buf) {
		r->layout = LAYOUT_SA_BUF;
		capture_sockaddr(r, arg_of(r, c->sa), (u32)arg_of(r, c->sa_len), PAYLOAD_SA_BUF_OFF);
		capture_buf(r, arg_of(r, c->buf), arg_of(r, c->buf_len), true);
	} else if (sa) {
		r->layout = LAYOUT_SOCKADDR;
		capture_sockaddr(r, arg_of(r, c->sa), (u32)arg_of(r, c->sa_len), SOCKADDR_MAX);
	} else if (buf) {
		r->layout = LAYOUT_BUF;
		capture_buf(r, arg_of(r, c->buf), arg_of(r, c->buf_len), false);
	}
}

static __always_inline void capture_exit(struct record *r, struct sc_conf *c, long ret)
{
	if (r->pflags & PF_STR1_FAULT) {
		/* The kernel has faulted the string in by now. */
		read_str1(r, str1_size(r->layout), arg_of(r, c->str1));
		if (r->pflags & PF_STR1_FAULT)
			stat_inc(STAT_PAYLOAD_FAULTS);
	}
	if (ret < 0)
		return;
	bool sa = c->sa != ARG_NONE && (c->flags & SC_SA_AT_EXIT) && arg_of(r, c->sa) && arg_of(r, c->sa_len);
	bool buf = c->buf != ARG_NONE && (c->flags & SC_BUF_AT_EXIT) && ret > 0;
	u32 salen = 0;

	if (sa && bpf_probe_read_user(&salen, sizeof(salen), (void *)arg_of(r, c->sa_len)))
		sa = false;
	if (sa && buf) {
		r->layout = LAYOUT_SA_BUF;
		capture_sockaddr(r, arg_of(r, c->sa), salen, PAYLOAD_SA_BUF_OFF);
		capture_buf(r, arg_of(r, c->buf), ret, true);
	} else if (sa) {
		r->layout = LAYOUT_SOCKADDR;
		capture_sockaddr(r, arg_of(r, c->sa), salen, SOCKADDR_MAX);
	} else if (buf) {
		r->layout = LAYOUT_BUF;
		capture_buf(r, arg_of(r, c->buf), ret, false);
	}
}

SEC("tp_btf/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct ring_meta *rm;
	struct inflight *in;
	struct record *r = NULL;
	struct sc_conf *c;
	struct task_struct *t = bpf_get_current_task_btf();
	u64 cgid, pid_tgid, seq = 0, ts;
	u32 slot, nr = (u32)id;
	bool setup;

	if (!task_in_scope(t, &cgid))
		return 0;
	pid_tgid = task_pid_tgid(t);
	if (is_self(pid_tgid))
		return 0;
	in = bpf_task_storage_get(&inflight, t, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!in)
		return 0;
	c = bpf_map_lookup_elem(&sc_confs, &nr);
	ts = bpf_ktime_get_ns();
	/* The runtime's setup: its own processes (runc init, and runc exec's
	 * later), and everything in the cgroup until the application starts. */
	setup = comm_is_runtime(t->comm);
	rm = ring_cached(in, cgid, &slot, pid_tgid >> 32, setup);
	if (rm) {
		setup = setup || rm->setup;
		r = reserve(rm, slot, &seq);
	}
	if (r) {
		fill_common(r, pid_tgid, (s32)id, ts);
		r->args[0] = syscall_arg(regs, 0);
		r->args[1] = syscall_arg(regs, 1);
		r->args[2] = syscall_arg(regs, 2);
		r->args[3] = syscall_arg(regs, 3);
		r->args[4] = syscall_arg(regs, 4);
		r->args[5] = syscall_arg(regs, 5);
		copy_comm(r->comm, t);
		if (setup)
			r->pflags |= PF_SETUP;
		if (c)
			capture_enter(r, c);
		publish(r, seq, false);
	}
	if (c && (c->flags & SC_NO_RETURN)) {
		in->nr = -1; /* exit and exit_group never return */
		return 0;
	}
	if (r) {
		u32 zero = 0;
		struct last_enter *le = bpf_map_lookup_elem(&last_enter, &zero);

		if (le) {
			le->regs = (u64)regs;
			le->seq = seq;
			le->slot = slot;
		}
	}
	in->seq = r ? seq : 0;
	in->ts_enter = ts;
	in->nr = (s32)id;
	in->setup = setup;
	in->arg1 = 0;
	if (c && (c->flags & SC_WATCH))
		in->arg1 = syscall_arg(regs, 1);
	return 0;
}

static __always_inline void count_error(u64 cgid, u32 nr, long ret, u64 seq, u64 now)
{
	struct err_key k = { .cgroup_id = cgid, .nr = nr, .err = (u32)-ret };
	struct err_val *v = bpf_map_lookup_elem(&errors, &k);

	if (!v) {
		struct err_val zero = {};
		if (bpf_map_update_elem(&errors, &k, &zero, BPF_NOEXIST) && bpf_map_lookup_elem(&errors, &k) == NULL) {
			stat_inc(STAT_ERRORS_MAP_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&errors, &k);
		if (!v)
			return;
	}
	v->count++;
	if (seq) {
		v->last_seq = seq;
		v->last_ns = now;
	}
}

/* Is error slot e the pair key's, or can it be made so? */
static __always_inline bool err_slot_take(struct err_slot *e, u64 key)
{
	if (e->key == key)
		return true;
	if (e->key != 0)
		return false;
	return __sync_val_compare_and_swap(&e->key, 0, key) == 0 || e->key == key;
}

/*
 * Count a failure in the ring's own error slots (struct err_slot); false
 * when both slots a syscall/errno pair may take belong to other pairs.
 * Two ways: a pair whose first slot an earlier one took (a failure of the
 * runtime's or the program's start, say) still gets the other, instead of
 * the hash for the container's life. Slots are never given up, so a pair
 * is in one slot at most.
 */
static __always_inline bool count_error_cached(struct ring_meta *rm, u32 nr, u32 err, u64 seq, u64 now)
{
	u64 key = ((u64)nr << 32) | err;
	u32 h = ((nr * 0x9E3779B1u) ^ err) & (ERR_CACHE_SLOTS - 1);
	struct err_slot *e = &rm->errs[h];

	if (!err_slot_take(e, key)) {
		e = &rm->errs[h ^ (ERR_CACHE_SLOTS / 2)];
		if (!err_slot_take(e, key))
			return false;
	}
	__sync_fetch_and_add(&e->count, 1);
	e->last_seq = seq;
	e->last_ns = now;
	return true;
}

/* log2 bucket of a duration: bucket i holds durations below 2^(LAT_MIN_SHIFT+i) ns. */
static __always_inline u32 lat_bucket(u64 ns)
{
	u32 b = 0;

	ns >>= LAT_MIN_SHIFT;
	if (ns >> 16) { ns >>= 16; b += 16; }
	if (ns >> 8) { ns >>= 8; b += 8; }
	if (ns >> 4) { ns >>= 4; b += 4; }
	if (ns >> 2) { ns >>= 2; b += 2; }
	if (ns >> 1) { ns >>= 1; b += 1; }
	if (ns)
		b += 1;
	return b < LAT_BUCKETS - 1 ? b : LAT_BUCKETS - 1;
}

static __always_inline void count_latency(u64 cgid, u32 nr, u32 op, u64 ns)
{
	struct lat_key k = { .cgroup_id = cgid, .nr = nr, .op = op };
	struct lat_val *v = bpf_map_lookup_elem(&latencies, &k);

	if (!v) {
		u32 zero = 0;
		struct lat_val *z = bpf_map_lookup_elem(&lat_zero, &zero);
		if (!z)
			return;
		if (bpf_map_update_elem(&latencies, &k, z, BPF_NOEXIST) && bpf_map_lookup_elem(&latencies, &k) == NULL) {
			stat_inc(STAT_LATENCY_MAP_FULL);
			return;
		}
		v = bpf_map_lookup_elem(&latencies, &k);
		if (!v)
			return;
	}
	v->count++;
	v->sum_ns += ns;
	u32 b = lat_bucket(ns);
	if (b < LAT_BUCKETS)
		v->buckets[b]++;
}

/* Fill in the result of the syscall whose record r is, and publish it. */
static __always_inline void finish(struct record *r, struct sc_conf *c, u64 want, u64 now, long ret)
{
	r->ts_exit = now;
	r->ret = ret;
	if (c)
		capture_exit(r, c, ret);
	seq_store(&r->seq, want | 1);
}

/* The error and latency counters of a syscall that returned ret. rm is the
 * ring of cgid, or NULL when it has none. The runtime's setup is not the
 * application's: its failures and latencies are not counted. */
static __always_inline u64 late_record(struct task_struct *t, struct pt_regs *regs, struct ring_meta *rm, u32 slot,
				       u32 nr, u64 ts_enter, u64 now, long ret, struct sc_conf *c,
				       struct record_chunk **chunk);

static __always_inline void account(struct task_struct *t, struct pt_regs *regs, struct ring_meta *rm, u32 slot,
				    u64 cgid, u32 nr, long ret, u64 seq, u64 now, struct sc_conf *c, u64 arg1,
				    u64 ts_enter, bool setup, struct record_chunk *chunk)
{
	if (setup || (c && (c->flags & SC_NO_RESULT)))
		return;
	/* A notable failure, finished in the ring: onto the ring's tape. If
	 * its record was overwritten before it got there, it is recorded again
	 * (from the registers and the caller's memory) into the same entry. */
	if (rm && seq && ret < 0 && incident_errno(ret) && !(c && (c->flags & SC_TIMED_WAIT))) {
		int lost = put_incident(slot, seq, now, chunk);

		if (lost > 0) {
			struct record_chunk *again = NULL;
			u64 again_seq = late_record(t, regs, rm, slot, nr, ts_enter, now, ret, c, &again);

			if (again_seq) {
				put_own(slot, again_seq, (u32)(lost - 1), again);
				seq = again_seq; /* the exemplar of its error count */
			}
		}
	}
	/* count_errors is constant once loaded: the verifier drops the branch. */
	if (count_errors && ret < 0 && ret >= -MAX_ERRNO && !(rm && count_error_cached(rm, nr, (u32)-ret, seq, now)))
		count_error(cgid, nr, ret, seq, now);
	if (c && (c->flags & SC_WATCH)) {
		/* futex: keep the command, drop the flags */
		count_latency(cgid, nr, (u32)arg1 & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME), now - ts_enter);
	}
}

/*
 * A syscall of the setup phase returned ret. The first execve that the
 * runtime's init makes successfully starts the application: the setup
 * phase of the ring ends and the execing process is the container's main
 * process (whatever task the ring began with). comm is the record's, copied
 * at entry (before the exec renamed the task). Later runtime processes
 * (runc exec) change nothing.
 */
static __always_inline void setup_exit(struct ring_meta *rm, u32 nr, long ret, const char *comm, u32 tgid, u64 seq)
{
	if (ret != 0 || (nr != execve_nr && nr != execveat_nr) || rm->app_seq || !comm_is_runtime(comm))
		return;
	rm->main_pid = tgid;
	rm->app_seq = seq;
	rm->setup = 0;
}

/*
 * The common case: the thread leaves the syscall it entered last on this
 * CPU. Its record says the rest (syscall, entry time, arguments, ring),
 * without the task storage lookup. False when anything does not match; the
 * caller then takes the long way.
 */
static __always_inline bool exit_same_cpu(struct task_struct *t, struct pt_regs *regs, long ret)
{
	u32 zero = 0, slot, nr;
	struct last_enter *le = bpf_map_lookup_elem(&last_enter, &zero);
	struct record_chunk *chunk;
	struct ring_meta *rm;
	struct record *r;
	struct sc_conf *c;
	u64 want, seq, now, ts_enter, arg1;
	char comm[COMM_LEN];
	u32 tgid;
	bool setup;

	if (!le || le->regs != (u64)regs)
		return false;
	le->regs = 0;
	slot = le->slot;
	seq = le->seq;
	want = seq << 1;
	rm = bpf_map_lookup_elem(&rings, &slot);
	if (!rm)
		return false;
	r = ring_record_in(rm, slot, seq, &chunk);
	if (!r || r->tid != (u32)t->pid)
		return false;
	if (__sync_val_compare_and_swap(&r->seq, want, 0) != want)
		return false;
	now = bpf_ktime_get_ns();
	nr = (u32)r->nr;
	ts_enter = r->ts_enter;
	arg1 = r->args[1];
	setup = r->pflags & PF_SETUP;
	if (setup) {
		__builtin_memcpy(comm, r->comm, COMM_LEN);
		tgid = r->pid;
	}
	c = bpf_map_lookup_elem(&sc_confs, &nr);
	finish(r, c, want, now, ret);
	if (setup)
		setup_exit(rm, nr, ret, comm, tgid, seq);
	account(t, regs, rm, slot, rm->cgroup_id, nr, ret, seq, now, c, arg1, ts_enter, setup, chunk);
	return true;
}

/*
 * Record a syscall again at its exit, whole, when its entry record was
 * overwritten while it ran (a connect that times out after two minutes in
 * a busy container): the arguments are still in the registers and the
 * caller's memory. Only for incidents, which must not be lost with their
 * entry. Returns the new record's sequence number, 0 if none.
 */
static __always_inline u64 late_record(struct task_struct *t, struct pt_regs *regs, struct ring_meta *rm, u32 slot,
				       u32 nr, u64 ts_enter, u64 now, long ret, struct sc_conf *c,
				       struct record_chunk **chunk)
{
	struct record *r;
	u64 seq;

	r = reserve_in(rm, slot, &seq, chunk);
	if (!r)
		return 0;
	fill_common(r, task_pid_tgid(t), (s32)nr, ts_enter);
	r->args[0] = syscall_arg(regs, 0);
	r->args[1] = syscall_arg(regs, 1);
	r->args[2] = syscall_arg(regs, 2);
	r->args[3] = syscall_arg(regs, 3);
	r->args[4] = syscall_arg(regs, 4);
	r->args[5] = syscall_arg(regs, 5);
	copy_comm(r->comm, t);
	r->pflags |= PF_LATE;
	if (c)
		capture_enter(r, c);
	finish(r, c, seq << 1, now, ret);
	return seq;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct record_chunk *chunk = NULL;
	struct ring_meta *rm = NULL;
	struct inflight *in;
	struct record *r;
	struct sc_conf *c;
	u64 want, now, seq, cgid, arg1, ts_enter;
	u32 slot, nr;
	bool setup;

	/* The thread leaving the syscall it entered last on this CPU: no
	 * scope walk, no task storage. Tasks outside the parent miss here on
	 * one per-CPU load, then leave after the scope check's few loads. */
	if (exit_same_cpu(t, regs, ret))
		return 0;
	if (!task_in_scope(t, &cgid))
		return 0;
	/* Only threads that entered a recorded syscall have state. */
	in = bpf_task_storage_get(&inflight, t, 0, 0);
	if (!in || in->nr < 0)
		return 0;
	cgid = in->cgroup_id;
	now = bpf_ktime_get_ns();
	nr = (u32)in->nr;
	seq = in->seq;
	slot = in->slot;
	arg1 = in->arg1;
	ts_enter = in->ts_enter;
	setup = in->setup;
	in->nr = -1;
	in->seq = 0;
	c = bpf_map_lookup_elem(&sc_confs, &nr);
	if (seq) {
		rm = bpf_map_lookup_elem(&rings, &slot);
		if (!rm)
			return 0;
		r = ring_record_in(rm, slot, seq, &chunk);
		if (!r)
			return 0;
		want = seq << 1;
		if (r->seq == (want | 1))
			return 0; /* finished by exit_same_cpu: this state is stale */
		if (__sync_val_compare_and_swap(&r->seq, want, 0) == want) {
			char comm[COMM_LEN];

			__builtin_memcpy(comm, r->comm, COMM_LEN);
			finish(r, c, want, now, ret);
			if (rm->cgroup_id != cgid)
				rm = NULL; /* released and reused while the syscall ran */
			/* Test rm itself below: the verifier cannot follow clang when
			 * it tests the compare again instead. */
			asm volatile("" : "+r"(rm));
			if (rm && setup)
				setup_exit(rm, nr, ret, comm, (u32)(bpf_get_current_pid_tgid() >> 32), seq);
		} else {
			/* Overwritten while the syscall ran (a full ring turn). */
			__sync_fetch_and_add(&rm->exit_lost, 1);
			stat_inc(STAT_EXIT_LOST);
			/* An incident is recorded again, whole, at its exit. */
			if (rm->cgroup_id == cgid && !setup && ret < 0 && incident_errno(ret) &&
			    !(c && (c->flags & (SC_NO_RESULT | SC_TIMED_WAIT))))
				seq = late_record(t, regs, rm, slot, nr, ts_enter, now, ret, c, &chunk);
			if (!seq)
				rm = NULL;
		}
	}
	account(t, regs, rm, slot, cgid, nr, ret, seq, now, c, arg1, ts_enter, setup, chunk);
	return 0;
}

/* Write an event record (not a syscall) of task t into the ring of cgid,
 * which is stored in *rmp; the record's chunk is stored in *chunk. */
static __always_inline struct record *event_record(u64 cgid, struct task_struct *t, u64 pid_tgid, s32 kind,
						   u64 *seq, struct ring_meta **rmp, u32 *slotp,
						   struct record_chunk **chunk)
{
	struct ring_meta *rm;
	struct record *r;
	u32 slot;
	bool setup = comm_is_runtime(t->comm);

	rm = ring_of(cgid, &slot, pid_tgid >> 32, setup);
	if (!rm)
		return NULL;
	r = reserve_in(rm, slot, seq, chunk);
	if (!r)
		return NULL;
	fill_common(r, pid_tgid, kind, bpf_ktime_get_ns());
	r->args[0] = r->args[1] = r->args[2] = r->args[3] = r->args[4] = r->args[5] = 0;
	r->ts_exit = r->ts_enter;
	if (setup || rm->setup)
		r->pflags |= PF_SETUP;
	*rmp = rm;
	*slotp = slot;
	return r;
}

/* How a thread ended. group is EXIT_*; the group leader's start time tells
 * this process apart from a later one that reuses its pid. */
static __always_inline int record_exit(struct task_struct *p, u64 group)
{
	struct task_struct *t = bpf_get_current_task_btf();
	struct record_chunk *chunk = NULL;
	struct ring_meta *rm = NULL;
	u64 cgid, pid_tgid, seq;
	struct record *r;
	u32 code, slot;

	if (!task_in_scope(t, &cgid))
		return 0;
	pid_tgid = task_pid_tgid(t);
	if (is_self(pid_tgid))
		return 0;
	r = event_record(cgid, t, pid_tgid, EV_PROCESS_EXIT, &seq, &rm, &slot, &chunk);
	if (!r)
		return 0;
	code = (u32)BPF_CORE_READ(p, exit_code);
	r->args[0] = code;
	r->args[1] = group;
	r->args[2] = BPF_CORE_READ(p, group_leader, start_time);
	copy_comm(r->comm, t);
	publish(r, seq, true);
	/* A process that ends with a non-zero code or a signal is an incident. */
	if (group != EXIT_THREAD && code && !(r->pflags & PF_SETUP))
		put_incident(slot, seq, r->ts_enter, chunk);
	/* The container's own ending is its main process's, not the last
	 * task's to leave. Of several EXIT_GROUP_MAYBE threads the last one
	 * wins, as in user space (bpf.resolveProcessExits). */
	if (group != EXIT_THREAD && rm->main_pid == (u32)(pid_tgid >> 32)) {
		rm->main_status = code;
		__sync_fetch_and_or(&rm->main_flags, MAIN_EXITED);
	}
	return 0;
}

/*
 * Two variants; the loader attaches the one the running kernel's
 * sched_process_exit prototype fits (bpf/programs.go). Kernels after 6.12
 * pass group_dead: whether this thread brought the group's live count to
 * zero, i.e. whether the process ends with it.
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p, bool group_dead)
{
	return record_exit(p, group_dead ? EXIT_GROUP_DEAD : EXIT_THREAD);
}

/*
 * Older kernels pass only the task. do_exit has already decremented the
 * group's live count when the tracepoint fires, so a thread that reads 0
 * there may be the last one; but threads that exit together can all read
 * 0. The last of those records, in ring order, is the process's end (any
 * exit record after it would have read 0 too): user space keeps that one
 * (bpf.resolveProcessExits).
 */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit_live, struct task_struct *p)
{
	int live = BPF_CORE_READ(p, signal, live.counter);

	return record_exit(p, live == 0 ? EXIT_GROUP_MAYBE : EXIT_THREAD);
}

SEC("tp_btf/signal_deliver")
int BPF_PROG(signal_deliver, int sig, struct kernel_siginfo *info, struct k_sigaction *ka)
{
	struct task_struct *t = bpf_get_current_task_btf();
	u64 cgid, pid_tgid, seq, addr = 0;
	struct record_chunk *chunk = NULL;
	struct ring_meta *rm = NULL;
	struct record *r;
	int hdr[3] = {};
	u32 slot;

	/* The SIGKILL with no siginfo that exit_group and execve send to the
	 * other threads is not news: their exit records follow. */
	if (sig == 9 && !info)
		return 0;
	if (!task_in_scope(t, &cgid))
		return 0;
	pid_tgid = task_pid_tgid(t);
	if (is_self(pid_tgid))
		return 0;
	r = event_record(cgid, t, pid_tgid, EV_SIGNAL, &seq, &rm, &slot, &chunk);
	if (!r)
		return 0;
	/* kernel_siginfo starts like the UAPI siginfo: signo, errno, code, then the union at 16. */
	bpf_probe_read_kernel(hdr, sizeof(hdr), info);
	bpf_probe_read_kernel(&addr, sizeof(addr), (void *)info + 16);
	r->args[0] = (u64)sig;
	r->args[1] = (u64)(s64)hdr[2];
	r->args[2] = (u64)(s64)hdr[1];
	r->args[3] = addr;
	r->args[4] = (u64)BPF_CORE_READ(ka, sa.sa_handler);
	copy_comm(r->comm, t);
	publish(r, seq, true);
	/* A signal that kills by default, with no handler: an incident. */
	if (r->args[4] == 0 && ((1ULL << (sig & 63)) & FATAL_SIGNALS) && !(r->pflags & PF_SETUP))
		put_incident(slot, seq, r->ts_enter, chunk);
	return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(mark_victim, struct task_struct *task, uid_t uid)
{
	/* Runs in the OOM killer's context: the victim is task, not current. */
	u64 cgid = BPF_CORE_READ(task, cgroups, dfl_cgrp, kn, id);
	struct record_chunk *chunk = NULL;
	struct ring_meta *rm = NULL;
	u64 pid_tgid, seq;
	struct record *r;
	u32 slot;

	if (cgid == parent_cgroup_id || !bpf_map_lookup_elem(&containers, &cgid))
		return 0;
	pid_tgid = ((u64)BPF_CORE_READ(task, tgid) << 32) | (u32)BPF_CORE_READ(task, pid);
	r = event_record(cgid, task, pid_tgid, EV_OOM_KILL, &seq, &rm, &slot, &chunk);
	if (!r)
		return 0;
	r->args[0] = uid;
	BPF_CORE_READ_STR_INTO(&r->comm, task, comm);
	publish(r, seq, true);
	put_incident(slot, seq, r->ts_enter, chunk);
	if (rm->main_pid == (u32)(pid_tgid >> 32))
		__sync_fetch_and_or(&rm->main_flags, MAIN_OOM_KILLED);
	return 0;
}

static __always_inline int cgroup_event(struct cgroup *cgrp, const char *path, u32 kind)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct cgroup_event *e;

	/* Only the unified hierarchy: v1 hierarchies number their cgroups apart. */
	if (BPF_CORE_READ(cgrp, root) != BPF_CORE_READ(task, cgroups, dfl_cgrp, root))
		return 0;
	e = bpf_ringbuf_reserve(&cgroup_events, sizeof(*e), 0);
	if (!e) {
		stat_inc(STAT_CGROUP_EVENTS_LOST);
		return 0;
	}
	e->id = BPF_CORE_READ(cgrp, kn, id);
	e->kind = kind;
	e->_pad = 0;
	bpf_probe_read_kernel_str(e->path, sizeof(e->path), path);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	return cgroup_event(cgrp, path, CGROUP_EVENT_MKDIR);
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	return cgroup_event(cgrp, path, CGROUP_EVENT_RMDIR);
}

/*
 * Attached only while the exporter starts: it makes prctl(self_cookie,
 * ~self_cookie), which fails with EINVAL, and this program notes who did.
 */
SEC("tp_btf/sys_enter")
int BPF_PROG(find_self, struct pt_regs *regs, long id)
{
	u64 a0, a1;
	u32 zero = 0, tgid;

	if (id != prctl_nr)
		return 0;
	a0 = syscall_arg(regs, 0);
	a1 = syscall_arg(regs, 1);
	if (a0 != self_cookie || a1 != ~self_cookie)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_map_update_elem(&self, &zero, &tgid, BPF_ANY);
	return 0;
}
