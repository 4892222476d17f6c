/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Layout shared by the kernel programs (recorder.bpf.c) and the Go reader
 * (record.go). Every change here must be mirrored there; TestRecordLayout
 * checks the sizes and offsets against the BTF of the compiled object.
 */
#ifndef FLIGHTREC_RECORDER_H
#define FLIGHTREC_RECORDER_H

#define RECORD_SIZE 248 /* 4096 records: 992 KiB per ring */
#define PAYLOAD_SIZE 128
#define COMM_LEN 16

/* Special record kinds, stored in record.nr (syscall numbers are >= 0). */
enum event_kind {
	EV_PROCESS_EXIT = -1, /* sched_process_exit: args[0]=exit_code, args[1]=EXIT_*, args[2]=leader's start time */
	EV_SIGNAL = -2,       /* signal_deliver: args[0]=signo, args[1]=si_code, args[2]=si_errno, args[3]=si_addr or si_pid, args[4]=handler */
	EV_OOM_KILL = -3,     /* mark_victim: the OOM killer chose this process */
};

/* Process exit records' args[1]: was the thread the last of its group? */
enum exit_kind {
	EXIT_THREAD = 0,      /* no: other threads of the process live on */
	EXIT_GROUP_DEAD = 1,  /* yes, as the kernel's sched_process_exit said (after 6.12) */
	EXIT_GROUP_MAYBE = 2, /* the group's live count was 0: the last such record of the process is its end */
};

/* record.layout: how the payload is split. */
#define LAYOUT_NONE 0
#define LAYOUT_STR 1      /* one string at 0, len1 */
#define LAYOUT_STR2 2     /* string at 0 (len1) and string at PAYLOAD_STR2_OFF (len2) */
#define LAYOUT_EXEC 3     /* path at 0 (len1), NUL-separated argv at PAYLOAD_ARGV_OFF (len2) */
#define LAYOUT_SOCKADDR 4 /* sockaddr at 0, len1 */
#define LAYOUT_BUF 5      /* buffer at 0, len1 */
#define LAYOUT_SA_BUF 6   /* sockaddr at 0 (len1), buffer at PAYLOAD_SA_BUF_OFF (len2) */

#define PAYLOAD_STR2_OFF 64
#define PAYLOAD_ARGV_OFF 48
#define PAYLOAD_SA_BUF_OFF 112

/* record.pflags */
#define PF_STR1_TRUNC (1 << 0)
#define PF_STR2_TRUNC (1 << 1)
#define PF_ARGV_TRUNC (1 << 2)
#define PF_BUF_TRUNC (1 << 3)
#define PF_STR1_FAULT (1 << 4) /* user memory not readable at entry; retried at exit */
#define PF_SETUP (1 << 5)      /* made by the container runtime while it set the container up */
#define PF_LATE (1 << 6)       /* written at exit: the entry record was overwritten while the call ran */

/*
 * One ring entry. seq holds (sequence << 1) | finished and is written last
 * (seq_store in recorder.bpf.c: an ordered store) so that a reader can
 * detect a record that was overwritten while it was being copied: 0 means
 * "being written".
 */
struct record {
	__u64 seq;
	__u64 ts_enter; /* CLOCK_MONOTONIC ns */
	__u64 ts_exit;  /* 0 while the syscall runs */
	__u32 pid;      /* tgid, init pid namespace */
	__u32 tid;
	__u32 cpu;
	__s32 nr; /* syscall number, or EV_* */
	__u64 args[6];
	__s64 ret;
	char comm[COMM_LEN];
	__u16 len1;
	__u16 len2;
	__u8 layout;
	__u8 pflags;
	__u16 _pad;
	__u8 payload[PAYLOAD_SIZE];
};

/*
 * The rings' maps hold their records in chunks of RING_CHUNK: one map
 * lookup reaches RING_CHUNK consecutive records. A lookup in a ring's map
 * is a helper call (the maps are made at run time, so the verifier cannot
 * inline it); the incident tape copies an incident and the records before
 * it, up to 33 in a row, with at most four lookups instead of one a record.
 * Ring sizes are multiples of RING_CHUNK; the tape is rounded up to one.
 * The bytes are laid out as an array of records either way.
 */
#define RING_CHUNK 32
struct record_chunk {
	struct record r[RING_CHUNK];
};

/*
 * A failed-syscall counter kept in the ring of its container, in front of
 * the errors hash: the few syscall/errno pairs a container fails with most
 * are counted by an array index and an atomic add instead of a hash lookup.
 * A pair may take one of two slots, chosen by (nr, errno); a pair whose two
 * slots other pairs hold goes to the hash. User space adds these to the
 * hash's counts, and folds them into the hash before it releases the ring.
 */
#define ERR_CACHE_SLOTS 8
struct err_slot {
	__u64 key;      /* nr << 32 | errno; 0 = free (errno is never 0) */
	__u64 count;
	__u64 last_seq; /* ring record of the latest failure */
	__u64 last_ns;
};

/* ring_meta.main_flags */
enum main_flag {
	MAIN_EXITED = 1 << 0,     /* main_status holds how the main process ended */
	MAIN_OOM_KILLED = 1 << 1, /* the OOM killer chose the main process */
};

/*
 * Per-ring bookkeeping, one per slot. Readable by user space through mmap.
 *
 * A container's life has two phases. While the runtime sets it up (runc's
 * init and its helpers run in the container's cgroup before the entrypoint
 * starts), setup is 1 and records are marked PF_SETUP; the runtime's init
 * ends it with its first successful execve, which starts the application:
 * main_pid is then the entrypoint's process. A cgroup whose first task is
 * not the runtime's has no setup phase, and that task is its main process.
 */
struct ring_meta {
	__u64 cgroup_id; /* owner; 0 = free */
	__u64 head;      /* last sequence number handed out (first record is 1) */
	__u64 exit_lost; /* syscall exits whose entry record was already overwritten */
	__u64 created_ns;
	__u32 setup;       /* 1 while the runtime sets the container up */
	__u32 main_pid;    /* tgid of the container's main process; 0 = not started yet */
	__u64 app_seq;     /* record of the execve that started the application; 0 = none */
	__u32 main_status; /* the main process's wait status, once MAIN_EXITED */
	__u32 main_flags;  /* MAIN_* */
	/* Which of the slot's maps holds the ring: 0 the small one (in
	 * small_rings), 1 the large one (in large_rings). Set by user space
	 * when it promotes a busy ring, after the large map is in place. */
	__u32 large;
	/* 1: the container was refused a ring at its first syscall and got
	 * this one later; its main process is not known. */
	__u32 late;
	/* The incident tape of this ring (see "The incident tape" below). */
	__u64 first_taken;  /* entries of the "first" part handed out (may exceed it) */
	__u64 latest_head;  /* entries of the "latest" part handed out */
	__u64 incident_tat; /* rate limit: theoretical arrival time (GCRA), ns */
	__u64 kept;         /* incidents kept with their context; each incident takes an
			     * entry, so min(first_taken, first) + latest_head counts them all */
	struct err_slot errs[ERR_CACHE_SLOTS];
};

/*
 * The incident tape: per ring, entries of incident_context + 1 records in
 * the ring's map, after the ring's own records (record numbers count
 * across the map's chunks). Entry e starts at record
 * ring_records + e * (incident_context + 1): the incident itself,
 * then the records that preceded it in the ring, newest first (seq - 1,
 * seq - 2, ...). The first incident_first entries keep a ring's first
 * incidents and are never overwritten; the others are a ring of the latest.
 * Each copied record is published like a ring record (seq written last, 0
 * while it is written); a context record whose seq is not the incident's
 * minus its distance is stale (not copied: over the rate, or overwritten
 * in the ring first) and is ignored.
 */

/*
 * A command name of the container runtime's own processes: comm matches
 * when (comm & mask) == val, compared as two 8-byte words. The loader
 * builds these from --recorder.runtime-comms (prefix or exact names).
 */
#define RUNTIME_COMMS_MAX 8
struct comm_pattern {
	__u64 val[2];
	__u64 mask[2];
};

/* Per-syscall capture configuration, written by user space at load time. */
#define ARG_NONE 0xff
struct sc_conf {
	__u8 str1;
	__u8 str2;
	__u8 argv;
	__u8 sa;
	__u8 sa_len;
	__u8 buf;
	__u8 buf_len;
	__u8 flags;
};
enum sc_flag {
	SC_SA_AT_EXIT = 1 << 0,
	SC_BUF_AT_EXIT = 1 << 1,
	SC_NO_RETURN = 1 << 2, /* exit, exit_group: the entry is the whole record */
	SC_WATCH = 1 << 3,     /* count calls and their latency (--collector.syscalls.watch) */
	SC_NO_RESULT = 1 << 4, /* rt_sigreturn: returns the interrupted context's register, never an error */
	SC_TIMED_WAIT = 1 << 5, /* futex, semtimedop...: timing out is an ordinary end, never an incident */
};

/* Indexes into the per-CPU stats array. */
enum stat_index {
	STAT_UNUSED = 0,            /* records written are the sum of the ring heads */
	STAT_UNTRACKED_SYSCALLS,    /* syscalls of containers that got no ring */
	STAT_CONTAINERS_ADDED,      /* rings assigned */
	STAT_CONTAINERS_UNTRACKED,  /* containers refused a ring (cap reached) */
	STAT_CONTAINER_MAP_FULL,    /* container map full: not even counted as untracked */
	STAT_EXIT_LOST,             /* exits whose entry was overwritten */
	STAT_PAYLOAD_FAULTS,        /* user memory that could not be read */
	STAT_ERRORS_MAP_FULL,       /* failed syscalls not counted: errors map full */
	STAT_LATENCY_MAP_FULL,      /* watched syscalls not counted: latency map full */
	STAT_CGROUP_EVENTS_LOST,    /* cgroup mkdir/rmdir events lost: ring buffer full */
	STAT_INCIDENTS_KEPT,        /* incidents put on a tape with their context */
	STAT_INCIDENTS_SUPPRESSED,  /* incidents put on a tape without it (over the rate) */
	STAT_CONTAINERS_LATE,       /* of the rings assigned, to containers refused one before */
	STAT_MAX,
};

#define SLOT_UNTRACKED 0xffffffff

/* cgroup v2 creations and removals, so that user space knows every path
 * before any process can run in the cgroup, however short-lived. */
#define CGROUP_PATH_MAX 512
enum cgroup_event_kind {
	CGROUP_EVENT_MKDIR = 1,
	CGROUP_EVENT_RMDIR = 2,
};
struct cgroup_event {
	__u64 id;
	__u32 kind;
	__u32 _pad;
	char path[CGROUP_PATH_MAX];
};

struct container {
	__u32 slot;  /* SLOT_UNTRACKED: seen, but no ring was free */
	__u32 asked; /* untracked: when it last asked for a ring (units of 2^20 ns) */
};

/* Per-thread state (task storage): the syscall in flight, and the ring of
 * the thread's cgroup, cached so that the per-syscall path needs no hash
 * lookup. A cached slot stays valid while the thread is in that cgroup:
 * rings are only released once their cgroup is gone. */
struct inflight {
	__u64 seq;       /* sequence of the entry record, 0 = none (no ring) */
	__u64 ts_enter;  /* CLOCK_MONOTONIC at entry */
	__u64 arg1;      /* futex op, for the latency key */
	__u64 cgroup_id; /* cgroup at entry; the ring cache is for this cgroup */
	__u32 _pad;
	__s32 nr;        /* syscall in flight, -1 = none */
	__u32 slot;      /* cached ring slot of cgroup_id (or SLOT_UNTRACKED); seq's ring */
	__u32 setup;     /* the syscall in flight is the runtime's setup: not counted */
};

/*
 * The last recorded syscall entry on a CPU (per-CPU array): when the same
 * thread leaves that syscall on the same CPU, sys_exit finds its record
 * here, without the scope check and the task storage lookup. Any mismatch
 * falls back to struct inflight.
 */
struct last_enter {
	__u64 regs; /* the thread's pt_regs, unique among live threads; 0 = used */
	__u64 seq;
	__u32 slot; /* the ring seq is in */
	__u32 _pad;
};

/* Failed syscalls by container, syscall and errno (per CPU). */
struct err_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 err; /* positive errno */
};

struct err_val {
	__u64 count;
	__u64 last_seq; /* ring record of the latest failure, 0 = none */
	__u64 last_ns;  /* when it happened */
};

/* Watched syscalls: calls and log2 latency buckets (per CPU). */
#define LAT_BUCKETS 26 /* bucket i: duration < 2^(10+i) ns (~1us .. ~17s); the last one is +Inf */
#define LAT_MIN_SHIFT 10

struct lat_key {
	__u64 cgroup_id;
	__u32 nr;
	__u32 op; /* futex command (op & FUTEX_CMD_MASK), else 0 */
};

struct lat_val {
	__u64 count;
	__u64 sum_ns;
	__u64 buckets[LAT_BUCKETS];
};

#endif
