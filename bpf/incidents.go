package bpf

import (
	"fmt"
	"time"

	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

// Incidents configures the incident tapes: per ring, the records of
// notable failures (and of processes that ended badly, fatal signals and
// OOM kills) with the records that preceded them, kept after the ring has
// turned over (recorder.h, struct incident).
type Incidents struct {
	// Errnos are the errnos whose failures are incidents.
	Errnos []int
	// Context is how many records before an incident are kept with it.
	Context int
	// First entries keep a ring's first incidents, never overwritten;
	// Latest entries go round for the latest ones.
	First, Latest int
	// Rate (per second) and Burst bound the incidents that keep context;
	// past them an incident keeps its own record only.
	Rate  float64
	Burst int
}

// MaxIncidentContext bounds Incidents.Context (the kernel's copy loop).
const MaxIncidentContext = 32

// DefaultIncidentErrnos are the errnos that are incidents by default: those
// the shipped alerts watch, and the usual suspects of an outage.
var DefaultIncidentErrnos = []string{"EACCES", "EPERM", "ENOMEM", "EMFILE", "ENFILE", "ETIMEDOUT", "ECONNREFUSED",
	"ECONNRESET", "EHOSTUNREACH", "ENOSPC", "EDQUOT", "EIO", "EROFS"}

// ParseIncidentErrnos reads a list of errno names; "all" is every errno,
// "none" no errno (exits, signals and OOM kills are still incidents).
func ParseIncidentErrnos(names []string) ([]int, error) {
	if len(names) == 1 && names[0] == "none" {
		return []int{}, nil
	}
	if len(names) == 1 && names[0] == "all" {
		all := make([]int, 0, syscalls.MaxErrno)
		for e := 1; e <= syscalls.MaxErrno; e++ {
			all = append(all, e)
		}
		return all, nil
	}
	var out []int
	for _, name := range names {
		e, ok := syscalls.ErrnoNumber(name)
		if !ok {
			return nil, fmt.Errorf("%q is not an errno name (want names like EACCES, or all, or none)", name)
		}
		out = append(out, e)
	}
	return out, nil
}

// DefaultIncidents are the exporter's defaults: DefaultIncidentErrnos, 8
// records of context, the first 16 and the latest 96 incidents of each
// ring (244 KiB a ring), 50 a second with context after a burst of 50.
func DefaultIncidents() Incidents {
	errnos, _ := ParseIncidentErrnos(DefaultIncidentErrnos)
	return Incidents{Errnos: errnos, Context: 8, First: 16, Latest: 96, Rate: 50, Burst: 50}
}

// Off reports whether there is no tape (the zero Incidents).
func (in Incidents) Off() bool { return in.First == 0 && in.Latest == 0 }

// validate reports the first setting that cannot work.
func (in Incidents) validate() error {
	if in.Off() && in.Context == 0 {
		return nil
	}
	switch {
	case in.Context < 0 || in.Context > MaxIncidentContext:
		return fmt.Errorf("incident context %d: must be between 0 and %d", in.Context, MaxIncidentContext)
	case in.First < 1:
		return fmt.Errorf("incident first %d: must be at least 1", in.First)
	case in.Latest < 1:
		return fmt.Errorf("incident latest %d: must be at least 1", in.Latest)
	case in.Rate <= 0:
		return fmt.Errorf("incident rate %g: must be positive", in.Rate)
	case in.Burst < 1:
		return fmt.Errorf("incident burst %d: must be at least 1", in.Burst)
	}
	for _, e := range in.Errnos {
		if e < 1 || e >= maxErrnoBits {
			return fmt.Errorf("incident errno %d: out of range", e)
		}
	}
	return nil
}

// latestSmall is the number of entries for the latest incidents on the
// tape of a small ring: at most 8, so that the many quiet containers of a
// node take little memory; a busy ring promoted to the large class gets
// Latest.
func (in Incidents) latestSmall() int { return min(in.Latest, 8) }

// maxErrnoBits is the size of the kernel's errno bitmap (MAX_ERRNO_BITS).
const maxErrnoBits = 4096

// errnoBitmap is the kernel's incident_errnos.
func (in Incidents) errnoBitmap() [maxErrnoBits / 64]uint64 {
	var b [maxErrnoBits / 64]uint64
	for _, e := range in.Errnos {
		b[e/64] |= 1 << (e % 64)
	}
	return b
}

// interval is the time between two incidents with context at Rate.
func (in Incidents) interval() time.Duration {
	if in.Rate <= 0 {
		return 0
	}
	return time.Duration(float64(time.Second) / in.Rate)
}
