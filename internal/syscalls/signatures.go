package syscalls

import "fmt"

// signatures maps kernel syscall names to their print signature; keyed by
// name so one table serves every architecture.
var signatures = mergeSigs(fileSigs, memSigs, netSigs, procSigs, miscSigs)

// mergeSigs joins the per-topic tables; a name defined twice is a bug.
func mergeSigs(tables ...map[string]sig) map[string]sig {
	all := make(map[string]sig)
	for _, t := range tables {
		for name, sg := range t {
			if _, dup := all[name]; dup {
				panic(fmt.Sprintf("syscalls: signature for %q defined twice", name))
			}
			all[name] = sg
		}
	}
	return all
}
