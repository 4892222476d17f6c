// Command flightrec_exporter records the recent syscalls of every container
// on the node in kernel rings and serves them at /dump, with Prometheus
// metrics at /metrics.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/client_golang/prometheus"
	promcollectors "github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/promslog/flag"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"
	"github.com/prometheus/exporter-toolkit/web/kingpinflag"
	"go.yaml.in/yaml/v3"

	"github.com/flightrec/flightrec_exporter/bpf"
	"github.com/flightrec/flightrec_exporter/collector"
	"github.com/flightrec/flightrec_exporter/internal/authz"
	"github.com/flightrec/flightrec_exporter/internal/cgroups"
	"github.com/flightrec/flightrec_exporter/internal/containers"
	"github.com/flightrec/flightrec_exporter/internal/cri"
	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/flagx"
	"github.com/flightrec/flightrec_exporter/internal/frozen"
	"github.com/flightrec/flightrec_exporter/internal/kube"
	"github.com/flightrec/flightrec_exporter/internal/reclaim"
	"github.com/flightrec/flightrec_exporter/internal/redact"
	"github.com/flightrec/flightrec_exporter/internal/route"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

const exporterName = "flightrec_exporter"

// options are the exporter's own flags; each package registers and
// validates its own (collector, dump, authz, redact, route).
type options struct {
	telemetryPath   string
	cgroupfs        string
	parent          string
	ringSize        int
	smallRingSize   int
	maxRings        int
	spareRings      int
	memoryBudget    *int64
	captureBytes    int
	runtimeComms    string
	incidents       incidentFlags
	reclaimInterval time.Duration
	nodeName        string
	externalURL     string
	pinPath         string
	bpffs           string
	writeTimeout    time.Duration
	kubeconfig      string
	criEndpoint     string
	listen          []string // --web.listen-address

	collector *collector.Options
	dump      *dump.Options
	authz     *authz.Options
	redact    *redact.Options
	peers     *route.Options
}

func main() {
	var opts options
	app := kingpin.New(exporterName, "Records the recent syscalls of every container in kernel rings; serves them at /dump and as Prometheus metrics.")
	webFlags := kingpinflag.AddFlags(app, ":9747")
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&opts.telemetryPath)
	app.Flag("web.external-url", "The URL under which the exporter is reached by people (e.g. through a Service or ingress); used in the links it prints.").Default("").StringVar(&opts.externalURL)
	app.Flag("web.write-timeout", "Longest time to send a response; a client too slow to read a dump is cut off.").Default("60s").DurationVar(&opts.writeTimeout)
	app.Flag("path.cgroupfs", "cgroup2 mount point; found in /proc/self/mountinfo when empty.").Default("").StringVar(&opts.cgroupfs)
	app.Flag("recorder.cgroup-parent", "Record every cgroup below this one (path relative to the cgroup2 mount).").Default("/").StringVar(&opts.parent)
	app.Flag("recorder.ring-size", "Records of a large ring (a power of two, at least 32; 248 bytes each): busy containers are promoted to one while --recorder.memory-budget allows.").Default("4096").IntVar(&opts.ringSize)
	app.Flag("recorder.small-ring-size", "Records of a small ring (a power of two, at least 32; more than --recorder.ring-size is lowered to it): every container starts with one.").Default("512").IntVar(&opts.smallRingSize)
	opts.memoryBudget = flagx.Bytes(app.Flag("recorder.memory-budget", "Kernel memory the rings may take, incident tapes and metadata included (e.g. 192MiB). Rings are made as containers come; containers that find the budget spent are counted as untracked."), "recorder.memory-budget", "192MiB")
	app.Flag("recorder.max-containers", "Containers that can have a ring at once (slots); more are counted as untracked. Only the slots' metadata is allocated at start.").Default("1024").IntVar(&opts.maxRings)
	app.Flag("recorder.spare-rings", "Small rings kept ready, so that a new container has one from its first syscall.").Default("64").IntVar(&opts.spareRings)
	app.Flag("recorder.capture-bytes", fmt.Sprintf("Bytes of read/write buffers copied into records (0 to %d); 0 copies none.", bpf.MaxCaptureBytes)).Default("64").IntVar(&opts.captureBytes)
	opts.incidents.add(app)
	app.Flag("recorder.runtime-comms", fmt.Sprintf("Command names of the container runtime's own processes, comma-separated (at most %d; a trailing * matches any rest; empty: none). What they do in a container's cgroup, and everything there before the runtime's first successful execve, is the container's setup: marked in dumps, not counted in the metrics.", bpf.MaxRuntimeComms)).Default(strings.Join(bpf.DefaultRuntimeComms, ",")).StringVar(&opts.runtimeComms)
	app.Flag("recorder.reclaim-interval", "How often rings of removed cgroups are freed.").Default("5s").DurationVar(&opts.reclaimInterval)
	app.Flag("bpf.fs-path", "Where the bpf filesystem is. When --bpf.pin-path is below it and no bpf filesystem is mounted there, the exporter mounts one (needs CAP_SYS_ADMIN; with mount propagation it reaches the host).").Default(bpf.BPFFSRoot).StringVar(&opts.bpffs)
	app.Flag("bpf.pin-path", "Directory on a bpf filesystem where rings and counters are pinned, so that a restarted or upgraded exporter continues them; empty to pin nothing.").Default("/sys/fs/bpf/flightrec").StringVar(&opts.pinPath)
	app.Flag("kubernetes.node-name", "Name of this node (the DaemonSet sets it from the downward API); the hostname when empty.").Envar("NODE_NAME").Default("").StringVar(&opts.nodeName)
	app.Flag("kubernetes.cri-endpoint", "The node's container runtime (CRI socket), which names a container from its creation on, before the API server's pod status does, and while the API server is down. auto: the first of "+strings.Join(cri.DefaultEndpoints, ", ")+" that exists; empty: none.").Default("auto").StringVar(&opts.criEndpoint)
	app.Flag("kubeconfig", "Kubeconfig to reach the Kubernetes API; in a pod the in-cluster config is used. Without either, cgroups are labelled as on a plain host.").Default("").StringVar(&opts.kubeconfig)
	opts.dump = dump.AddFlags(app)
	opts.redact = redact.AddFlags(app)
	opts.authz = authz.AddFlags(app)
	opts.peers = route.AddFlags(app)
	opts.collector = collector.AddFlags(app)
	logConfig := &promslog.Config{}
	flag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))

	logger := promslog.New(logConfig)
	if webFlags.WebListenAddresses != nil {
		opts.listen = *webFlags.WebListenAddresses
	}
	if err := run(opts, webFlags, logger); err != nil {
		logger.Error(err.Error())
		os.Exit(1)
	}
}

// validate checks every package's flags, and the exporter's own.
func (o options) validate() error {
	var errs []error
	if o.reclaimInterval <= 0 {
		errs = append(errs, fmt.Errorf("--recorder.reclaim-interval %s: must be positive", o.reclaimInterval))
	}
	errs = append(errs, o.incidents.validate())
	if err := bpf.CheckRuntimeComms(splitList(o.runtimeComms)); err != nil {
		errs = append(errs, fmt.Errorf("--recorder.runtime-comms: %w", err))
	}
	if o.writeTimeout <= 0 {
		errs = append(errs, fmt.Errorf("--web.write-timeout %s: must be positive", o.writeTimeout))
	}
	for _, v := range []interface{ Validate() error }{o.dump, o.redact, o.authz, o.peers, o.collector} {
		errs = append(errs, v.Validate())
	}
	return errors.Join(errs...)
}

func run(opts options, webFlags *web.FlagConfig, logger *slog.Logger) error {
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	if err := opts.validate(); err != nil {
		return err
	}
	copts := opts.collector
	nsFilter, _ := opts.dump.NamespaceFilter()
	redactor, _ := opts.redact.Redactor()
	useKube := opts.kubeconfig != "" || kube.InCluster()
	authzMode, err := opts.authz.Resolve(useKube)
	if err != nil {
		return err
	}
	if authzMode == authz.ModeKubernetes && webFlags.WebConfigFile != nil && *webFlags.WebConfigFile != "" {
		if err := noBasicAuth(*webFlags.WebConfigFile); err != nil {
			return err
		}
	}
	if opts.nodeName == "" {
		opts.nodeName, _ = os.Hostname()
	}
	arch := syscalls.HostArch()
	mount := opts.cgroupfs
	if mount == "" {
		var err error
		if mount, err = cgroups.FindMount(); err != nil {
			return err
		}
	}
	hier, err := cgroups.Open(mount)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	parent := cgroups.Clean(opts.parent)
	parentID, err := waitForParent(ctx, hier, parent, logger)
	if errors.Is(err, context.Canceled) {
		return nil // stopped while waiting
	}
	if err != nil {
		return fmt.Errorf("--recorder.cgroup-parent: %w", err)
	}
	// A large ring smaller than the small one makes one class of it.
	opts.smallRingSize = min(opts.smallRingSize, opts.ringSize)
	cfg := bpf.Config{
		RingSize: opts.ringSize, SmallRingSize: opts.smallRingSize, MaxRings: opts.maxRings, SpareRings: opts.spareRings,
		MemoryBudget: *opts.memoryBudget, CaptureBytes: opts.captureBytes, RuntimeComms: splitList(opts.runtimeComms),
		Incidents:      opts.incidents.config(),
		ParentCgroupID: parentID, ParentLevel: cgroups.Level(parent), Arch: arch,
		Watch: copts.Watched(), ErrorSeries: copts.ErrorSeries, LatencySeries: copts.LatencySeries,
		SkipErrors: !copts.Enabled("errors"),
		PinPath:    opts.pinPath, BPFFS: opts.bpffs,
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("recorder settings: %w", err)
	}
	rec, err := bpf.Load(cfg)
	if errors.Is(err, bpf.ErrNoBPFFS) {
		logger.Warn("rings and counters will not survive a restart", "err", err)
		cfg.PinPath = ""
		rec, err = bpf.Load(cfg)
	}
	if err != nil {
		return fmt.Errorf("starting the recorder: %w", err)
	}
	defer rec.Close()
	// Everything started below that reads the recorder ends before it is
	// closed: deferred calls run last-in first-out, so this one, which stops
	// and waits for them, runs before rec.Close.
	ctx, stopWorkers := context.WithCancel(ctx)
	var workers sync.WaitGroup
	defer func() {
		stopWorkers()
		workers.Wait()
	}()
	for _, why := range rec.Variants.Missing {
		logger.Warn("running without an optional kernel feature", "feature", why)
	}
	if rec.MountedBPFFS {
		logger.Info("no bpf filesystem was mounted: mounted one for the pins", "path", rec.Config().BPFFS)
	}
	if rec.Resumed {
		logger.Info("continuing the rings and counters pinned by an earlier exporter", "pin_path", cfg.PinPath)
	}
	logger.Info("recording syscalls", "cgroup2", mount, "parent", parent, "small_ring", cfg.SmallRingSize, "large_ring", cfg.RingSize,
		"small_ring_memory", fmt.Sprintf("%d KiB", cfg.ClassBytes(false)>>10), "large_ring_memory", fmt.Sprintf("%d KiB", cfg.ClassBytes(true)>>10),
		"memory_budget", fmt.Sprintf("%d MiB", cfg.MemoryBudget>>20), "max_containers", cfg.MaxRings)
	ringsWanted := make(chan struct{}, 1)
	workers.Go(func() { manageRings(ctx, rec, ringsWanted, logger) })
	workers.Go(func() { drainRings(ctx, rec, logger) })

	resolver := containers.NewResolver(hier, parent, copts.GracePeriod)
	criClient, err := useRuntime(ctx, opts.criEndpoint, logger)
	if err != nil {
		return err
	}
	if criClient != nil {
		defer criClient.Close()
		resolver.SetDirectory(criClient)
	}
	store := frozen.NewStore(opts.dump.Limits(), resolver)
	if dir := opts.dump.StateDir; dir != "" {
		n, err := store.Persist(dir, time.Now())
		if err != nil {
			return fmt.Errorf("--dump.state-dir: %w", err)
		}
		logger.Info("frozen rings reloaded", "dir", dir, "rings", n)
	}
	reclaimer := reclaim.New(rec, resolver, store, logger)
	retired := collector.NewRetired()
	reclaimer.Retire = func(ids []uint64, forget func() error) error {
		if err := retired.Absorb(rec, resolver, arch, ids, forget); err != nil {
			return fmt.Errorf("retiring the counters of ended containers: %w", err)
		}
		return nil
	}
	workers.Go(func() {
		err := rec.WatchCgroups(ctx, func(ev bpf.CgroupEvent) {
			if ev.Removed {
				reclaimer.Trigger() // freeze its ring now
			} else {
				resolver.Learn(ev.ID, ev.Path)
				rec.NoteCgroupCreated(time.Now())
				select { // a container may come: keep rings ready
				case ringsWanted <- struct{}{}:
				default:
				}
			}
		})
		if err != nil {
			logger.Error("watching cgroup creation; new containers are named at the next walk", "err", err)
		}
	})
	if _, err := reclaimer.Reclaim(time.Now()); err != nil {
		return fmt.Errorf("reading cgroups: %w", err)
	}
	workers.Go(func() { reclaimer.Run(ctx, opts.reclaimInterval) })

	dumps := &dump.Handler{Source: rec, Cgroups: hier, Resolver: resolver, Store: store, Parent: parent,
		Node: opts.nodeName, BaseURL: opts.externalURL, Arch: arch, Logger: logger, Namespaces: nsFilter,
		Redact: redactor, Slots: make(chan struct{}, opts.dump.MaxConcurrent)}
	var kubeHealth prometheus.Collector
	if useKube {
		kc, err := useKubernetes(ctx, opts, authzMode, resolver, criClient, dumps, logger)
		if err != nil {
			return err
		}
		kubeHealth = kc
	}

	collectors := collector.New(collector.Deps{
		Source: rec, Labels: resolver, Arch: arch, Logger: logger, Options: copts, Retired: retired,
		Clock:    func(ns uint64) time.Time { return bpf.NewClock().Wall(ns) },
		Released: reclaimer,
	})
	logger.Info("enabled collectors", "collectors", collectors.Names())
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(exporterName),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}),
		promcollectors.NewGoCollector(),
		collectors,
		// Components that keep state in user space report it themselves.
		store, reclaimer, resolver, dumps,
	)
	if kubeHealth != nil {
		reg.MustRegister(kubeHealth)
	}

	mux := http.NewServeMux()
	mux.Handle(opts.telemetryPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}))
	links := []web.LandingLinks{{Address: opts.telemetryPath, Text: "Metrics"}}
	if *opts.dump.Enabled {
		mux.Handle("/dump", dumps)
		links = append(links, web.LandingLinks{Address: "/dump", Text: "Syscall dumps",
			Description: "The recorded containers; /dump?namespace=NS&pod=POD or /dump?cgroup=PATH for one of them"})
	}
	if opts.telemetryPath != "/" {
		landing, err := web.NewLandingPage(web.LandingConfig{
			Name:        "flightrec exporter",
			Description: "Per-container syscall flight recorder",
			Version:     version.Info(),
			Links:       links,
		})
		if err != nil {
			return fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: opts.writeTimeout, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	errc := make(chan error, 1)
	go func() { errc <- web.ListenAndServe(srv, webFlags, logger) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
		logger.Info("shutting down")
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(shutdownCtx)
	}
}

// useKubernetes labels containers by namespace, pod and container from the
// API server, and forwards dumps of pods on other nodes.
func useKubernetes(ctx context.Context, opts options, authzMode string, resolver *containers.Resolver, criClient *cri.Client,
	dumps *dump.Handler, logger *slog.Logger) (*kube.Client, error) {
	kc, err := kube.New(kube.Config{Kubeconfig: opts.kubeconfig, NodeName: opts.nodeName, Logger: logger})
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	client, err := opts.peers.Client()
	if err != nil {
		return nil, err
	}
	port := "9747"
	if len(opts.listen) > 0 {
		if _, p, err := net.SplitHostPort(opts.listen[0]); err == nil {
			port = p
		}
	}
	kc.Start(ctx)
	if criClient != nil {
		// The runtime names first: it knows a container from its creation on.
		resolver.SetDirectory(containers.Chain{criClient, kubeDirectory{kc}})
	} else {
		resolver.SetDirectory(kubeDirectory{kc})
	}
	if authzMode == authz.ModeKubernetes {
		az, err := authz.New(opts.authz.Config(kc.Clientset()))
		if err != nil {
			return nil, fmt.Errorf("--dump.authz: %w", err)
		}
		dumps.Authz = az
		logger.Info("dumps follow Kubernetes RBAC: a caller needs a bearer token whose user may "+az.Rule()+" in the pod's namespace", "flag", "--dump.authz")
	} else {
		logger.Warn("dumps are open to whoever reaches the port (--dump.authz=none)")
	}
	dumps.Router = &route.Forwarder{
		Locator: kubeLocator{c: kc, namespace: opts.peers.Namespace, selector: opts.peers.Selector, defaultPort: port},
		Node:    opts.nodeName, Scheme: *opts.peers.Scheme, Client: client, Logger: logger,
	}
	logger.Info("labelling containers from the Kubernetes API", "node", opts.nodeName)
	return kc, nil
}

// noBasicAuth fails when the web config file asks for basic auth, which
// takes the Authorization header that --dump.authz=kubernetes needs for the
// caller's bearer token.
func noBasicAuth(webConfig string) error {
	b, err := os.ReadFile(webConfig)
	if err != nil {
		return fmt.Errorf("--web.config.file: %w", err)
	}
	var cfg struct {
		BasicAuthUsers map[string]any `yaml:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("--web.config.file %s: %w", webConfig, err)
	}
	if len(cfg.BasicAuthUsers) > 0 {
		return fmt.Errorf("--web.config.file %s has basic_auth_users, which cannot be combined with --dump.authz=kubernetes: both need the Authorization header (use TLS only, or --dump.authz=none)", webConfig)
	}
	return nil
}

// waitForParent returns the id of the cgroup parent, waiting for it to
// appear: on a node the exporter can start before kubelet makes /kubepods.
func waitForParent(ctx context.Context, hier *cgroups.Hierarchy, parent string, logger *slog.Logger) (uint64, error) {
	id, err := hier.ID(parent)
	if err == nil || !errors.Is(err, os.ErrNotExist) {
		return id, err
	}
	logger.Warn("--recorder.cgroup-parent does not exist yet: waiting for it; recording starts when it appears",
		"parent", parent, "cgroup2", hier.Root)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
		id, err := hier.ID(parent)
		switch {
		case err == nil:
			logger.Info("--recorder.cgroup-parent appeared", "parent", parent)
			return id, nil
		case !errors.Is(err, os.ErrNotExist):
			return 0, err
		}
	}
}

// useRuntime connects to the node's container runtime over CRI: endpoint,
// or with "auto" the first default socket that exists. nil when there is
// none; an endpoint given that cannot be reached is an error, a default one
// a warning.
func useRuntime(ctx context.Context, endpoint string, logger *slog.Logger) (*cri.Client, error) {
	auto := endpoint == "auto"
	if auto {
		endpoint = cri.Find(cri.DefaultEndpoints)
	}
	if endpoint == "" {
		return nil, nil
	}
	c, err := cri.Dial(ctx, endpoint)
	switch {
	case err != nil && auto:
		logger.Warn("containers are not named by the container runtime", "err", err)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("--kubernetes.cri-endpoint: %w", err)
	}
	logger.Info("naming containers from the container runtime (CRI)", "endpoint", endpoint)
	return c, nil
}

// splitList splits a comma-separated flag value, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, item := range strings.Split(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
