package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flightrec/flightrec_exporter/bpf"
)

// incidentFlags are the --recorder.incident-* flags.
type incidentFlags struct {
	errnos         string
	context, first int
	latest, burst  int
	rate           float64
	parsedErrnos   []int
}

func (f *incidentFlags) add(app *kingpin.Application) {
	d := bpf.DefaultIncidents()
	app.Flag("recorder.incident-errnos", "Errnos whose failures are incidents, kept on the container's incident tape with the records before them after the ring has turned over: comma-separated names, all, or none. Non-zero exits, fatal signals and OOM kills are incidents whatever this says.").
		Default(strings.Join(bpf.DefaultIncidentErrnos, ",")).StringVar(&f.errnos)
	app.Flag("recorder.incident-context", fmt.Sprintf("Records kept before each incident (0 to %d).", bpf.MaxIncidentContext)).
		Default(fmt.Sprint(d.Context)).IntVar(&f.context)
	app.Flag("recorder.incident-first", "Incidents kept per container from the first on, never overwritten: what started a storm.").
		Default(fmt.Sprint(d.First)).IntVar(&f.first)
	app.Flag("recorder.incident-latest", "Latest incidents kept per container, in a ring.").
		Default(fmt.Sprint(d.Latest)).IntVar(&f.latest)
	app.Flag("recorder.incident-rate", "Incidents per second and container that keep their context (past the burst); more keep their own record only.").
		Default(fmt.Sprint(d.Rate)).Float64Var(&f.rate)
	app.Flag("recorder.incident-burst", "Incidents a container may have with context at once before the rate applies.").
		Default(fmt.Sprint(d.Burst)).IntVar(&f.burst)
}

// validate checks each flag and names it in its error.
func (f incidentFlags) validate() error {
	var errs []error
	if _, err := bpf.ParseIncidentErrnos(splitList(f.errnos)); err != nil {
		errs = append(errs, fmt.Errorf("--recorder.incident-errnos: %w", err))
	}
	if f.context < 0 || f.context > bpf.MaxIncidentContext {
		errs = append(errs, fmt.Errorf("--recorder.incident-context %d: must be between 0 and %d", f.context, bpf.MaxIncidentContext))
	}
	for name, v := range map[string]int{"first": f.first, "latest": f.latest, "burst": f.burst} {
		if v < 1 {
			errs = append(errs, fmt.Errorf("--recorder.incident-%s %d: must be at least 1", name, v))
		}
	}
	if f.rate <= 0 {
		errs = append(errs, fmt.Errorf("--recorder.incident-rate %g: must be positive", f.rate))
	}
	return errors.Join(errs...)
}

// config is the recorder's view of the flags, once validated.
func (f incidentFlags) config() bpf.Incidents {
	errnos, _ := bpf.ParseIncidentErrnos(splitList(f.errnos))
	return bpf.Incidents{Errnos: errnos, Context: f.context, First: f.first, Latest: f.latest, Rate: f.rate, Burst: f.burst}
}
