package bpf

// processKey tells one process apart from a later one with the same pid.
type processKey struct {
	tgid        uint32
	leaderStart uint64
}

// resolveProcessExits settles which exit record of each process is its
// end, on kernels whose sched_process_exit does not say (recorder.bpf.c,
// process_exit_live): of the records marked exitGroupMaybe, the last one of
// the process (records are in ring order) becomes ExitGroupDead and the
// others ExitThread. A process whose last thread has not yet exited keeps
// its latest candidate as its end until a later one is read.
func resolveProcessExits(recs []Record) {
	last := map[processKey]int{}
	for i := range recs {
		r := &recs[i]
		if r.Nr != EventProcessExit || r.Args[1] != exitGroupMaybe {
			continue
		}
		k := processKey{r.PID, r.Args[2]}
		if j, ok := last[k]; ok {
			recs[j].Args[1] = ExitThread
		}
		last[k] = i
		r.Args[1] = ExitGroupDead
	}
}
