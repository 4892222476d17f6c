/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Which tasks are recorded: those in a strict descendant of the parent
 * cgroup. Shared by the recorder and the benchmark's "essentials" programs
 * (test/bench/floor.bpf.c). The includer defines the load-time constants
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
			for (int i = 0; i < MAX_CGROUP_WALK; i++) {
				if (i >= up)
					break;
				css = css->parent;
			}
			if (css->cgroup->kn->id != parent_cgroup_id)
				return false;
		}
	}
	*cgid = cg->kn->id;
	return *cgid != parent_cgroup_id;
}

#endif
