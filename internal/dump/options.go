package dump

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flightrec/flightrec_exporter/internal/flagx"
)

// Options are the flags of /dump and of the store of frozen rings.
type Options struct {
	Enabled        *bool
	Namespaces     string // --dump.namespaces
	Exclude        string // --dump.exclude-namespaces
	Retention      time.Duration
	MaxFrozen      int
	MaxFrozenBytes int64
	StateDir       string
	MaxConcurrent  int
}

// AddFlags registers the /dump flags.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{}
	o.Enabled = flagx.Bool(app.Flag("dump.enabled", "Serve /dump (true or false). The dump shows file paths, addresses and buffer bytes of every container on the node."), "dump.enabled", true)
	app.Flag("dump.namespaces", "Only pods of these namespaces can be dumped (comma-separated; empty: all).").Default("").StringVar(&o.Namespaces)
	app.Flag("dump.exclude-namespaces", "Pods of these namespaces cannot be dumped (comma-separated).").Default("").StringVar(&o.Exclude)
	app.Flag("dump.state-dir", "Directory where the frozen rings of removed containers are saved, so that they survive a restart; empty to keep them in memory only.").Default("").StringVar(&o.StateDir)
	app.Flag("dump.max-concurrent", "Dumps served at once; more are answered 429.").Default("4").IntVar(&o.MaxConcurrent)
	app.Flag("dump.retention", "How long the frozen ring of a removed container (the previous=true dump) is kept.").Default("1h").DurationVar(&o.Retention)
	app.Flag("dump.max-frozen", "Most frozen rings kept; the oldest go first.").Default("64").IntVar(&o.MaxFrozen)
	app.Flag("dump.max-frozen-bytes", "Memory the frozen rings may take; the oldest go first.").Default("268435456").Int64Var(&o.MaxFrozenBytes)
	return o
}

// Validate reports the first setting that cannot work.
func (o *Options) Validate() error {
	var errs []error
	if o.Retention <= 0 {
		errs = append(errs, fmt.Errorf("--dump.retention %s: must be positive", o.Retention))
	}
	if o.MaxFrozen < 0 || o.MaxFrozenBytes < 0 {
		errs = append(errs, errors.New("--dump.max-frozen and --dump.max-frozen-bytes must not be negative"))
	}
	if o.MaxConcurrent < 1 {
		errs = append(errs, fmt.Errorf("--dump.max-concurrent %d: must be at least 1", o.MaxConcurrent))
	}
	if _, err := o.NamespaceFilter(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// NamespaceFilter is what --dump.namespaces and --dump.exclude-namespaces
// allow.
func (o *Options) NamespaceFilter() (*NamespaceFilter, error) {
	return NewNamespaceFilter(o.Namespaces, o.Exclude)
}

// Limits bound the store of frozen rings.
func (o *Options) Limits() Limits {
	return Limits{Retention: o.Retention, MaxRings: o.MaxFrozen, MaxBytes: o.MaxFrozenBytes}
}
