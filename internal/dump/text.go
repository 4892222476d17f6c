package dump

import (
	"fmt"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// WriteText prints entries as aligned columns, one syscall per line, with a
// CONTAINER column when entries of several containers are interleaved.
func WriteText(w io.Writer, entries []Entry, withContainer bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	container := ""
	if withContainer {
		container = "CONTAINER\t"
	}
	fmt.Fprintln(tw, "TIME\t"+container+"CPU\tPID\tTID\tCOMM\tSYSCALL\tPARAMETERS\tRET\tDURATION")
	for i := range entries {
		e := &entries[i]
		ret, dur := e.RetText, "-"
		switch {
		case e.Kind != KindSyscall:
			ret = ""
		case e.DurationNs != nil:
			dur = formatDuration(*e.DurationNs)
		case syscalls.NoReturn(e.Syscall):
		default:
			dur = "unfinished"
		}
		params := e.Params
		if e.Kind == KindSyscall {
			params = "(" + params + ")"
		}
		comm := strconv.Quote(e.Comm)
		if withContainer {
			container = e.Container + "\t"
		}
		fmt.Fprintf(tw, "%s\t%s%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n",
			e.Time.Format("15:04:05.000000"), container, e.CPU, e.PID, e.TID, comm[1:len(comm)-1],
			e.Syscall, params, ret, dur)
	}
	return tw.Flush()
}

func formatDuration(ns uint64) string {
	d := time.Duration(ns)
	switch {
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", ns)
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fµs", float64(ns)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(ns)/1e6)
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}
