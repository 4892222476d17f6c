package bpf

import "testing"

func exitRecord(seq uint64, tgid, tid uint32, start, group uint64) Record {
	r := Record{Seq: seq, PID: tgid, TID: tid, Nr: EventProcessExit}
	r.Args[1], r.Args[2] = group, start
	return r
}

func TestResolveProcessExitsKeepsTheLastCandidate(t *testing.T) {
	recs := []Record{
		exitRecord(1, 100, 101, 7, ExitThread),     // a thread that left early
		exitRecord(2, 100, 102, 7, exitGroupMaybe), // threads exiting together all read live == 0
		{Seq: 3, PID: 200, TID: 200, Nr: 1},        // a syscall of another process
		exitRecord(4, 100, 100, 7, exitGroupMaybe), // the last of them ends the process
		exitRecord(5, 300, 300, 9, exitGroupMaybe), // another process, one thread
		exitRecord(6, 100, 100, 8, exitGroupMaybe), // pid 100 reused by a new process
		exitRecord(7, 400, 400, 3, ExitGroupDead),  // a kernel that said so itself
	}
	resolveProcessExits(recs)
	want := map[uint64]uint64{1: ExitThread, 2: ExitThread, 4: ExitGroupDead, 5: ExitGroupDead, 6: ExitGroupDead, 7: ExitGroupDead}
	for _, r := range recs {
		if r.Nr != EventProcessExit {
			if r.Args[1] != 0 {
				t.Errorf("seq %d: a syscall's args changed", r.Seq)
			}
			continue
		}
		if r.Args[1] != want[r.Seq] {
			t.Errorf("seq %d (tid %d): group %d, want %d", r.Seq, r.TID, r.Args[1], want[r.Seq])
		}
	}
}
