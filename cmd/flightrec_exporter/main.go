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
	"github.com/flightrec/flightrec_exporter/internal/dump"
	"github.com/flightrec/flightrec_exporter/internal/kube"
	"github.com/flightrec/flightrec_exporter/internal/redact"
	"github.com/flightrec/flightrec_exporter/internal/route"
	"github.com/flightrec/flightrec_exporter/internal/syscalls"
)

const exporterName = "flightrec_exporter"

type options struct {
	telemetryPath   string
	cgroupfs        string
	parent          string
	ringSize        int
	maxRings        int
	captureBytes    int
	reclaimInterval time.Duration
	retention       time.Duration
	maxFrozen       int
	maxFrozenBytes  int64
	nodeName        string
	externalURL     string
	dumpEnabled     bool
	dumpNamespaces  string
	dumpExclude     string
	pinPath         string
	stateDir        string
	maxConcurrent   int
	writeTimeout    time.Duration
	kubeconfig      string
	peerSelector    string
	peerNamespace   string
	peerScheme      string
	peerCAFile      string
	listen          []string // --web.listen-address
	redaction       bool
	redact          []string
	authz           string
	authzVerb       string
	authzGroup      string
	authzResource   string
	authzSub        string
	authzAllowTTL   time.Duration
	authzDenyTTL    time.Duration
	authzCacheSize  int
}

func main() {
	var opts options
	app := kingpin.New(exporterName, "Records the recent syscalls of every container in kernel rings; serves them at /dump and as Prometheus metrics.")
	webFlags := kingpinflag.AddFlags(app, ":9747")
	app.Flag("web.telemetry-path", "Path under which to expose metrics.").Default("/metrics").StringVar(&opts.telemetryPath)
	app.Flag("path.cgroupfs", "cgroup2 mount point; found in /proc/self/mountinfo when empty.").Default("").StringVar(&opts.cgroupfs)
	app.Flag("recorder.cgroup-parent", "Record every cgroup below this one (path relative to the cgroup2 mount).").Default("/").StringVar(&opts.parent)
	app.Flag("recorder.ring-size", "Records kept per container (a power of two); each takes 248 bytes of kernel memory.").Default("4096").IntVar(&opts.ringSize)
	app.Flag("recorder.max-containers", "Containers that can have a ring at once; more are counted as untracked. Kernel memory is allocated for all of them at start.").Default("128").IntVar(&opts.maxRings)
	app.Flag("recorder.capture-bytes", fmt.Sprintf("Bytes of read/write buffers copied into records (0 to %d); 0 copies none.", bpf.MaxCaptureBytes)).Default("64").IntVar(&opts.captureBytes)
	app.Flag("recorder.reclaim-interval", "How often rings of removed cgroups are freed.").Default("5s").DurationVar(&opts.reclaimInterval)
	app.Flag("web.external-url", "The URL under which the exporter is reached by people (e.g. through a Service or ingress); used in the links it prints.").Default("").StringVar(&opts.externalURL)
	dumpEnabled := app.Flag("dump.enabled", "Serve /dump (true or false). The dump shows file paths, addresses and buffer bytes of every container on the node.").Default("true").String()
	app.Flag("dump.namespaces", "Only pods of these namespaces can be dumped (comma-separated; empty: all).").Default("").StringVar(&opts.dumpNamespaces)
	app.Flag("dump.exclude-namespaces", "Pods of these namespaces cannot be dumped (comma-separated).").Default("").StringVar(&opts.dumpExclude)
	redaction := app.Flag("dump.redaction", "Hide secrets in dumps (true or false): values of flags like --password in command lines, KEY=value pairs whose key names a secret, Authorization and Cookie headers in buffers. Done in user space when a dump is made.").Default("true").String()
	app.Flag("dump.redact", fmt.Sprintf("Pattern of a secret to hide in dumps (a Go regular expression; its first group, or the whole match, is replaced by %s). Repeatable; given, it replaces the built-in patterns, which %q stands for.", redact.Mark, redact.Builtin)).Default(redact.Builtin).StringsVar(&opts.redact)
	app.Flag("dump.authz", "Who may read /dump. kubernetes: the caller sends a bearer token (Authorization: Bearer), and may read a namespace's dumps if its user may do --dump.authz.verb on --dump.authz.resource/--dump.authz.subresource there (TokenReview, SubjectAccessReview; containers outside pods need it cluster-wide). none: whoever reaches the port (protect it with --web.config.file). auto: kubernetes when the exporter uses the Kubernetes API, none on a plain host.").Default("auto").StringVar(&opts.authz)
	app.Flag("dump.authz.verb", "Verb a caller needs in a namespace to read its dumps.").Default("get").StringVar(&opts.authzVerb)
	app.Flag("dump.authz.group", "API group of --dump.authz.resource (empty: the core group).").Default("").StringVar(&opts.authzGroup)
	app.Flag("dump.authz.resource", "Resource a caller needs the verb on.").Default("pods").StringVar(&opts.authzResource)
	app.Flag("dump.authz.subresource", "Subresource a caller needs the verb on (empty: none). The default, get pods/log, lets whoever may read a pod's logs read its syscalls.").Default("log").StringVar(&opts.authzSub)
	app.Flag("dump.authz.allow-ttl", "How long a valid token and an allowed decision are remembered.").Default("1m").DurationVar(&opts.authzAllowTTL)
	app.Flag("dump.authz.deny-ttl", "How long an invalid token and a denied decision are remembered.").Default("10s").DurationVar(&opts.authzDenyTTL)
	app.Flag("dump.authz.cache-size", "Most tokens, and most decisions, remembered.").Default("1024").IntVar(&opts.authzCacheSize)
	app.Flag("bpf.pin-path", "Directory on a bpf filesystem where rings and counters are pinned, so that a restarted or upgraded exporter continues them; empty to pin nothing.").Default("/sys/fs/bpf/flightrec").StringVar(&opts.pinPath)
	app.Flag("dump.state-dir", "Directory where the frozen rings of removed containers are saved, so that they survive a restart; empty to keep them in memory only.").Default("").StringVar(&opts.stateDir)
	app.Flag("dump.max-concurrent", "Dumps served at once; more are answered 429.").Default("4").IntVar(&opts.maxConcurrent)
	app.Flag("web.write-timeout", "Longest time to send a response; a client too slow to read a dump is cut off.").Default("60s").DurationVar(&opts.writeTimeout)
	app.Flag("dump.retention", "How long the frozen ring of a removed container (the previous=true dump) is kept.").Default("1h").DurationVar(&opts.retention)
	app.Flag("dump.max-frozen", "Most frozen rings kept; the oldest go first.").Default("64").IntVar(&opts.maxFrozen)
	app.Flag("dump.max-frozen-bytes", "Memory the frozen rings may take; the oldest go first.").Default("268435456").Int64Var(&opts.maxFrozenBytes)
	app.Flag("kubernetes.node-name", "Name of this node (the DaemonSet sets it from the downward API); the hostname when empty.").Envar("NODE_NAME").Default("").StringVar(&opts.nodeName)
	app.Flag("kubeconfig", "Kubeconfig to reach the Kubernetes API; in a pod the in-cluster config is used. Without either, cgroups are labelled as on a plain host.").Default("").StringVar(&opts.kubeconfig)
	app.Flag("dump.peer-selector", "Label selector of this exporter's DaemonSet pods: a dump of a pod on another node is forwarded to the exporter there.").Default("app.kubernetes.io/name=flightrec-exporter").StringVar(&opts.peerSelector)
	app.Flag("dump.peer-namespace", "Namespace of this exporter's DaemonSet pods.").Envar("POD_NAMESPACE").Default("").StringVar(&opts.peerNamespace)
	app.Flag("dump.peer-scheme", "How peers are reached: http or https (with TLS in --web.config.file).").Default("http").StringVar(&opts.peerScheme)
	app.Flag("dump.peer-ca-file", "CA certificate that verifies peers over https; without it their certificates are not verified (they are addressed by pod IP).").Default("").StringVar(&opts.peerCAFile)
	collectorOpts := collector.AddFlags(app)
	logConfig := &promslog.Config{}
	flag.AddFlags(app, logConfig)
	app.Version(version.Print(exporterName))
	app.HelpFlag.Short('h')
	kingpin.MustParse(app.Parse(os.Args[1:]))

	logger := promslog.New(logConfig)
	switch *dumpEnabled {
	case "true":
		opts.dumpEnabled = true
	case "false":
	default:
		logger.Error(fmt.Sprintf("--dump.enabled %q: must be true or false", *dumpEnabled))
		os.Exit(1)
	}
	switch *redaction {
	case "true":
		opts.redaction = true
	case "false":
	default:
		logger.Error(fmt.Sprintf("--dump.redaction %q: must be true or false", *redaction))
		os.Exit(1)
	}
	if webFlags.WebListenAddresses != nil {
		opts.listen = *webFlags.WebListenAddresses
	}
	if err := run(opts, collectorOpts, webFlags, logger); err != nil {
		logger.Error(err.Error())
		os.Exit(1)
	}
}

func run(opts options, copts *collector.Options, webFlags *web.FlagConfig, logger *slog.Logger) error {
	logger.Info("starting "+exporterName, "version", version.Info(), "build_context", version.BuildContext())
	if opts.reclaimInterval <= 0 {
		return fmt.Errorf("--recorder.reclaim-interval %s: must be positive", opts.reclaimInterval)
	}
	if opts.retention <= 0 || opts.maxFrozen < 0 || opts.maxFrozenBytes < 0 {
		return fmt.Errorf("--dump.retention must be positive, --dump.max-frozen and --dump.max-frozen-bytes not negative")
	}
	if opts.maxConcurrent < 1 || opts.writeTimeout <= 0 {
		return fmt.Errorf("--dump.max-concurrent must be at least 1 and --web.write-timeout positive")
	}
	nsFilter, err := dump.NewNamespaceFilter(opts.dumpNamespaces, opts.dumpExclude)
	if err != nil {
		return err
	}
	if opts.authzVerb == "" || opts.authzResource == "" {
		return fmt.Errorf("--dump.authz.verb and --dump.authz.resource must not be empty")
	}
	if opts.authzAllowTTL < 0 || opts.authzDenyTTL < 0 || opts.authzCacheSize < 0 {
		return fmt.Errorf("--dump.authz.allow-ttl, --dump.authz.deny-ttl and --dump.authz.cache-size must not be negative")
	}
	useKube := opts.kubeconfig != "" || kube.InCluster()
	switch opts.authz {
	case "auto", "kubernetes", "none":
	default:
		return fmt.Errorf("--dump.authz %q: must be auto, kubernetes or none", opts.authz)
	}
	switch {
	case opts.authz == "kubernetes" && !useKube:
		return fmt.Errorf("--dump.authz=kubernetes needs the Kubernetes API: give --kubeconfig or run in a pod")
	case opts.authz == "auto" && useKube:
		opts.authz = "kubernetes"
	case opts.authz == "auto":
		opts.authz = "none"
	}
	if opts.authz == "kubernetes" && webFlags.WebConfigFile != nil && *webFlags.WebConfigFile != "" {
		if err := noBasicAuth(*webFlags.WebConfigFile); err != nil {
			return err
		}
	}
	var redactor *redact.Redactor
	if opts.redaction {
		if redactor, err = redact.New(opts.redact); err != nil {
			return fmt.Errorf("--dump.redact: %w", err)
		}
	}
	if opts.nodeName == "" {
		opts.nodeName, _ = os.Hostname()
	}
	if copts.GracePeriod < 0 {
		return fmt.Errorf("--collector.grace-period %s: must not be negative", copts.GracePeriod)
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
	parent := cgroups.Clean(opts.parent)
	parentID, err := hier.ID(parent)
	if err != nil {
		return fmt.Errorf("--recorder.cgroup-parent: %w", err)
	}
	cfg := bpf.Config{
		RingSize: opts.ringSize, MaxRings: opts.maxRings, CaptureBytes: opts.captureBytes,
		ParentCgroupID: parentID, ParentLevel: cgroups.Level(parent), Arch: arch,
		Watch: copts.Watched(), ErrorSeries: copts.ErrorSeries, LatencySeries: copts.LatencySeries,
		PinPath: opts.pinPath,
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
	for _, why := range rec.Variants.Missing {
		logger.Warn("running without an optional kernel feature", "feature", why)
	}
	if rec.Resumed {
		logger.Info("continuing the rings and counters pinned by an earlier exporter", "pin_path", cfg.PinPath)
	}
	logger.Info("recording syscalls", "cgroup2", mount, "parent", parent, "ring_size", cfg.RingSize,
		"max_containers", cfg.MaxRings, "ring_memory", fmt.Sprintf("%d KiB per container", cfg.RingBytes()>>10))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	resolver := containers.NewResolver(hier, parent, copts.GracePeriod)
	store := dump.NewStore(dump.Limits{Retention: opts.retention, MaxRings: opts.maxFrozen, MaxBytes: opts.maxFrozenBytes})
	if opts.stateDir != "" {
		n, err := store.Persist(opts.stateDir, time.Now())
		if err != nil {
			return fmt.Errorf("--dump.state-dir: %w", err)
		}
		logger.Info("frozen rings reloaded", "dir", opts.stateDir, "rings", n)
	}
	reclaimer := dump.NewReclaimer(rec, resolver, store, cfg.RingSize, logger)
	retired := collector.NewRetired()
	reclaimer.Retire = func(ids []uint64) {
		if err := retired.Absorb(rec, resolver, arch, ids); err != nil {
			logger.Error("keeping the counts of ended containers", "err", err)
		}
	}
	go func() {
		err := rec.WatchCgroups(ctx, func(ev bpf.CgroupEvent) {
			if ev.Removed {
				reclaimer.Trigger() // freeze its ring now
			} else {
				resolver.Learn(ev.ID, ev.Path)
			}
		})
		if err != nil {
			logger.Error("watching cgroup creation; new containers are named at the next walk", "err", err)
		}
	}()
	if _, err := reclaimer.Reclaim(time.Now()); err != nil {
		return fmt.Errorf("reading cgroups: %w", err)
	}
	go reclaimer.Run(ctx, opts.reclaimInterval)

	dumps := &dump.Handler{Source: rec, Cgroups: hier, Resolver: resolver, Store: store, Parent: parent,
		Node: opts.nodeName, BaseURL: opts.externalURL, Arch: arch, Logger: logger, Namespaces: nsFilter,
		Redact: redactor, Slots: make(chan struct{}, opts.maxConcurrent)}
	if useKube {
		if err := useKubernetes(ctx, opts, resolver, dumps, logger); err != nil {
			return err
		}
	}

	collectors := collector.New(collector.Deps{
		Source: rec, Labels: resolver, Arch: arch, Logger: logger, Options: copts, Retired: retired,
		Clock: func(ns uint64) time.Time { return dump.NewClock().Wall(ns) },
		Counts: collector.UserCounts{
			Torn: dumps.TornTotal, Released: reclaimer.Released, ReleasedOverwritten: reclaimer.ReleasedOverwritten,
			ReleasedWritten: reclaimer.ReleasedWritten,
			Frozen:          store.Stats, KnownCgroups: resolver.Len, DumpsInProgress: dumps.InProgress,
		},
	})
	logger.Info("enabled collectors", "collectors", collectors.Names())
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		versioncollector.NewCollector(exporterName),
		promcollectors.NewProcessCollector(promcollectors.ProcessCollectorOpts{}),
		promcollectors.NewGoCollector(),
		collectors,
	)

	mux := http.NewServeMux()
	mux.Handle(opts.telemetryPath, promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelError),
		EnableOpenMetrics: true,
	}))
	links := []web.LandingLinks{{Address: opts.telemetryPath, Text: "Metrics"}}
	if opts.dumpEnabled {
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
func useKubernetes(ctx context.Context, opts options, resolver *containers.Resolver, dumps *dump.Handler, logger *slog.Logger) error {
	kc, err := kube.New(kube.Config{Kubeconfig: opts.kubeconfig, NodeName: opts.nodeName, Logger: logger})
	if err != nil {
		return fmt.Errorf("kubernetes: %w", err)
	}
	client, err := peerClient(opts.peerScheme, opts.peerCAFile)
	if err != nil {
		return err
	}
	port := "9747"
	if len(opts.listen) > 0 {
		if _, p, err := net.SplitHostPort(opts.listen[0]); err == nil {
			port = p
		}
	}
	kc.Start(ctx)
	resolver.SetDirectory(kubeDirectory{kc})
	if opts.authz == "kubernetes" {
		az, err := authz.New(authz.Config{Client: kc.Clientset(), Verb: opts.authzVerb, Group: opts.authzGroup,
			Resource: opts.authzResource, Subresource: opts.authzSub, AllowTTL: opts.authzAllowTTL,
			DenyTTL: opts.authzDenyTTL, CacheSize: opts.authzCacheSize})
		if err != nil {
			return fmt.Errorf("--dump.authz: %w", err)
		}
		dumps.Authz = az
		logger.Info("dumps follow Kubernetes RBAC: a caller needs a bearer token whose user may "+az.Rule()+" in the pod's namespace", "flag", "--dump.authz")
	} else {
		logger.Warn("dumps are open to whoever reaches the port (--dump.authz=none)")
	}
	dumps.Router = &route.Forwarder{
		Locator: kubeLocator{c: kc, namespace: opts.peerNamespace, selector: opts.peerSelector, defaultPort: port},
		Node:    opts.nodeName, Scheme: opts.peerScheme, Client: client, Logger: logger,
	}
	logger.Info("labelling containers from the Kubernetes API", "node", opts.nodeName)
	return nil
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
