// Package collector turns the recorder's kernel maps into Prometheus
// metrics. Everything is read at scrape time; nothing here runs per syscall.
//
// Like node_exporter, each concern is a collector with its own
// --collector.<name> flag, and every scrape reports per-collector success
// and duration.
package collector

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

const namespace = "flightrec"

// Source is the loaded recorder, as the collectors read it.
type Source interface {
	Config() bpf.Config
	Rings() ([]bpf.Ring, []uint64, error)
	Stats() (bpf.Stats, error)
	ErrorCounts() ([]bpf.ErrorCount, error)
	Latencies() ([]bpf.LatencyCount, error)
	MapMemory() (map[string]uint64, error)
	// Memory says how much kernel memory the rings take now.
	Memory() bpf.MemoryStats
	MapEntries() (errs, latencies int, err error)
	ProgramStats() (map[string]bpf.ProgramStat, error)
	// KernelFeatures says which optional features the running kernel has.
	KernelFeatures() map[string]bool
}

// Labeler names the container of a cgroup id.
type Labeler interface {
	Labels(cgroupID uint64) (containers.Labels, bool)
	// LabelSet is the labels of the containers alive (in some run).
	LabelSet() map[containers.Labels]bool
}

// Deps is what collectors are built from.
type Deps struct {
	Source Source
	Labels Labeler
	Arch   syscalls.Arch
	Logger *slog.Logger
	Clock  func(monoNs uint64) time.Time // kernel timestamp to wall clock
	// Released adds the records of freed rings to the totals; nil: none.
	Released ReleasedRecords
	Options  *Options
	Retired  *Retired // counts of ended runs of live containers; nil: none kept
}

// ReleasedRecords are the records written into, and overwritten in, rings
// that were freed (the reclaimer counts them), which the kernel's ring
// heads no longer hold.
type ReleasedRecords interface {
	ReleasedRecords() (written, overwritten uint64)
}

// Options are the collectors' own flags.
type Options struct {
	Watch         string
	ErrorSeries   int
	LatencySeries int
	GracePeriod   time.Duration
	enabled       map[string]*bool
}

// Validate reports settings that cannot work. The watched syscalls are
// checked against the architecture by the recorder (bpf.Config).
func (o *Options) Validate() error {
	var errs []error
	if o.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("--collector.grace-period %s: must not be negative", o.GracePeriod))
	}
	if o.ErrorSeries < 1 || o.LatencySeries < 1 {
		errs = append(errs, fmt.Errorf("--collector.errors.max-series %d and --collector.syscalls.max-series %d: must be positive", o.ErrorSeries, o.LatencySeries))
	}
	return errors.Join(errs...)
}

// Enabled reports whether the collector called name is on.
func (o *Options) Enabled(name string) bool {
	if on, ok := o.enabled[name]; ok {
		return *on
	}
	return factories[name].defaultEnabled
}

// Watched returns the syscalls of --collector.syscalls.watch, none when the
// syscalls collector is off: then the kernel counts none.
func (o *Options) Watched() []string {
	if !o.Enabled("syscalls") {
		return nil
	}
	var out []string
	for _, s := range strings.Split(o.Watch, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// updater is one collector.
type updater interface {
	Update(ch chan<- prometheus.Metric) error
}

type factory struct {
	help           string
	defaultEnabled bool
	build          func(d Deps) updater
}

var factories = map[string]factory{}

func register(name string, defaultEnabled bool, help string, build func(d Deps) updater) {
	factories[name] = factory{help: help, defaultEnabled: defaultEnabled, build: build}
}

// AddFlags registers --collector.<name> for every collector and the
// collectors' options.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{enabled: map[string]*bool{}}
	names := make([]string, 0, len(factories))
	for n := range factories {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := factories[n]
		def := "disabled"
		if f.defaultEnabled {
			def = "enabled"
		}
		o.enabled[n] = app.Flag("collector."+n, fmt.Sprintf("Enable the %s collector: %s (default: %s).", n, f.help, def)).
			Default(fmt.Sprint(f.defaultEnabled)).Bool()
	}
	app.Flag("collector.syscalls.watch", "Syscalls whose calls and latency are counted in the kernel (comma-separated).").
		Default("fsync,fdatasync,sync_file_range,syncfs,msync,futex").StringVar(&o.Watch)
	app.Flag("collector.errors.max-series", "Most container × syscall × errno counters kept in the kernel; more are counted in flightrec_recorder_map_full_total.").
		Default("16384").IntVar(&o.ErrorSeries)
	app.Flag("collector.syscalls.max-series", "Most container × watched syscall counters kept in the kernel.").
		Default("4096").IntVar(&o.LatencySeries)
	app.Flag("collector.grace-period", "How long the series of a removed cgroup are still exported, so that their last increase is scraped.").
		Default("2m").DurationVar(&o.GracePeriod)
	return o
}

// Flightrec runs the enabled collectors at each scrape.
type Flightrec struct {
	collectors map[string]updater
	logger     *slog.Logger
}

var (
	scrapeDuration = prometheus.NewDesc(prometheus.BuildFQName(namespace, "scrape", "collector_duration_seconds"),
		"flightrec_exporter: Duration of a collector scrape.", []string{"collector"}, nil)
	scrapeSuccess = prometheus.NewDesc(prometheus.BuildFQName(namespace, "scrape", "collector_success"),
		"flightrec_exporter: Whether a collector succeeded.", []string{"collector"}, nil)
)

// New builds the collectors enabled by the flags.
func New(d Deps) *Flightrec {
	f := &Flightrec{collectors: map[string]updater{}, logger: d.Logger}
	for name, fac := range factories {
		if on, ok := d.Options.enabled[name]; (ok && *on) || (!ok && fac.defaultEnabled) {
			f.collectors[name] = fac.build(d)
		}
	}
	return f
}

// Names lists the enabled collectors.
func (f *Flightrec) Names() []string {
	var out []string
	for n := range f.collectors {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe implements prometheus.Collector. It describes nothing, which
// makes this an unchecked collector: the series depend on what the kernel saw.
func (f *Flightrec) Describe(ch chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (f *Flightrec) Collect(ch chan<- prometheus.Metric) {
	var wg sync.WaitGroup
	for name, c := range f.collectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			begin := time.Now()
			err := c.Update(ch)
			success := 1.0
			if err != nil {
				f.logger.Error("collector failed", "name", name, "err", err)
				success = 0
			}
			ch <- prometheus.MustNewConstMetric(scrapeDuration, prometheus.GaugeValue, time.Since(begin).Seconds(), name)
			ch <- prometheus.MustNewConstMetric(scrapeSuccess, prometheus.GaugeValue, success, name)
		}()
	}
	wg.Wait()
}
