package dump

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// noteMark starts a line that is not a row: a note between the rows. It is
// written as a row of empty cells, so that the columns stay aligned across
// it, and replaced by its text after the alignment.
const noteMark = "\x01"

// WriteText prints entries as aligned columns, one syscall per line, with a
// CONTAINER column when entries of several containers are interleaved, and
// a line where an application starts after its container runtime's setup.
func WriteText(w io.Writer, entries []Entry, withContainer bool) error {
	var aligned bytes.Buffer
	if err := writeRows(&aligned, entries, withContainer); err != nil {
		return err
	}
	sc := bufio.NewScanner(&aligned)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	bw := bufio.NewWriter(w)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.Index(line, noteMark); i >= 0 {
			line = line[i+len(noteMark):]
		}
		bw.WriteString(line)
		bw.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}

func writeRows(w io.Writer, entries []Entry, withContainer bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 1, ' ', 0)
	cells := "\t\t\t\t\t\t\t\t"
	if withContainer {
		cells += "\t"
	}
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
		if n := e.NotKeptBefore; n > 0 {
			what := "records"
			if n == 1 {
				what = "record"
			}
			if withContainer {
				what += " of " + e.Container
			}
			fmt.Fprintf(tw, "%s%s… %s %s not kept …\n", cells, noteMark, thousands(n), what)
		}
		if e.AppStarts {
			where := ""
			if withContainer {
				where = " in container " + e.Container
			}
			fmt.Fprintf(tw, "%s%s--- application starts: pid %d%s (above: the container runtime's setup) ---\n",
				cells, noteMark, e.PID, where)
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

// thousands writes n with a comma every three digits: 1,953,210.
func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
