/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which tasks are recorded: those in a strict descendant of the parent
 * cgroup. Shared by the recorder and the benchmark's "essentials" programs
 * (test/bench/floor.bpf.c). It defines the global parent_cgroup_ptr; the
 * includer defines the load-time constants
 *
 *	volatile const u64 parent_cgroup_id;  the parent's cgroup id
 *	volatile const u32 parent_level;      its level (root = 0)
 */
#ifndef FLIGHTREC_SCOPE_H
#define FLIGHTREC_SCOPE_H

/* Deepest walk from a container up to the parent done by loads; deeper
 * ones ask the helper. */
#define MAX_CGROUP_WALK 16

/*
 * The parent's struct cgroup, learned at the first task found below it:
 * from then on a task's ancestor is compared by address, and only a match
 * loads the id (tasks outside the parent, the common case on a node's
 * system cgroups, stop at the pointer compare). A cgroup's self css is its
 * first member, so the css walked up to is the cgroup's address.
 */
u64 parent_cgroup_ptr = 0;

/*
 * Is task t (the current task) recorded? Sets its cgroup id. The cgroup and
 * its ancestor at the parent's level are read through BTF pointers, a few
 * loads instead of the helpers bpf_get_current_{ancestor_,}cgroup_id:
 * tasks outside the parent pay only these loads, and recorded ones save
 * ~40 ns a hook.
 */
static __always_inline bool task_in_scope(struct task_struct *t, u64 *cgid)
{
	struct cgroup *cg = t->cgroups->dfl_cgrp;

	if (parent_level > 0) {
		struct cgroup_subsys_state *css = &cg->self;
		int up = cg->level - (int)parent_level;

		if (up < 0)
			return false;
		if (up > MAX_CGROUP_WALK) {
			if (bpf_get_current_ancestor_cgroup_id(parent_level) != parent_cgroup_id)
				return false;
		} else {
			u64 known = parent_cgroup_ptr;

			for (int i = 0; i < MAX_CGROUP_WALK; i++) {
				if (i >= up)
					break;
				css = css->parent;
			}
			if (known && (u64)css != known)
				return false;
			if (css->cgroup->kn->id != parent_cgroup_id)
				return false;
			if (!known)
				parent_cgroup_ptr = (u64)css;
		}
	}
	*cgid = cg->kn->id;
	return *cgid != parent_cgroup_id;
}

#endif
