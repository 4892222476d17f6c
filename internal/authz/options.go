package authz

import (
	"errors"
	"fmt"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"k8s.io/client-go/kubernetes"

	"github.com/flightrec/flightrec_exporter/internal/flagx"
)

// Modes of --dump.authz.
const (
	ModeAuto       = "auto"
	ModeKubernetes = "kubernetes"
	ModeNone       = "none"
)

// Options are the --dump.authz flags.
type Options struct {
	Mode                               *string
	Verb, Group, Resource, Subresource string
	AllowTTL, DenyTTL                  time.Duration
	CacheSize                          int
}

// AddFlags registers the --dump.authz flags.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{}
	o.Mode = flagx.Enum(app.Flag("dump.authz", "Who may read /dump. kubernetes: the caller sends a bearer token (Authorization: Bearer), and may read a namespace's dumps if its user may do --dump.authz.verb on --dump.authz.resource/--dump.authz.subresource there (TokenReview, SubjectAccessReview; containers outside pods need it cluster-wide). none: whoever reaches the port (protect it with --web.config.file). auto: kubernetes when the exporter uses the Kubernetes API, none on a plain host."),
		"dump.authz", ModeAuto, ModeAuto, ModeKubernetes, ModeNone)
	app.Flag("dump.authz.verb", "Verb a caller needs in a namespace to read its dumps.").Default("get").StringVar(&o.Verb)
	app.Flag("dump.authz.group", "API group of --dump.authz.resource (empty: the core group).").Default("").StringVar(&o.Group)
	app.Flag("dump.authz.resource", "Resource a caller needs the verb on.").Default("pods").StringVar(&o.Resource)
	app.Flag("dump.authz.subresource", "Subresource a caller needs the verb on (empty: none). The default, get pods/log, lets whoever may read a pod's logs read its syscalls.").Default("log").StringVar(&o.Subresource)
	app.Flag("dump.authz.allow-ttl", "How long a valid token and an allowed decision are remembered.").Default("1m").DurationVar(&o.AllowTTL)
	app.Flag("dump.authz.deny-ttl", "How long an invalid token and a denied decision are remembered.").Default("10s").DurationVar(&o.DenyTTL)
	app.Flag("dump.authz.cache-size", "Most tokens, and most decisions, remembered.").Default("1024").IntVar(&o.CacheSize)
	return o
}

// Validate reports settings that cannot work.
func (o *Options) Validate() error {
	var errs []error
	if o.Verb == "" || o.Resource == "" {
		errs = append(errs, errors.New("--dump.authz.verb and --dump.authz.resource must not be empty"))
	}
	if o.AllowTTL < 0 || o.DenyTTL < 0 || o.CacheSize < 0 {
		errs = append(errs, errors.New("--dump.authz.allow-ttl, --dump.authz.deny-ttl and --dump.authz.cache-size must not be negative"))
	}
	return errors.Join(errs...)
}

// Resolve settles auto: kubernetes where the Kubernetes API is used, none
// elsewhere. Kubernetes without the API is an error.
func (o *Options) Resolve(useKubernetes bool) (string, error) {
	switch mode := *o.Mode; {
	case mode == ModeKubernetes && !useKubernetes:
		return "", fmt.Errorf("--dump.authz=kubernetes needs the Kubernetes API: give --kubeconfig or run in a pod")
	case mode == ModeAuto && useKubernetes:
		return ModeKubernetes, nil
	case mode == ModeAuto:
		return ModeNone, nil
	default:
		return mode, nil
	}
}

// Config is the authorizer's configuration with client.
func (o *Options) Config(client kubernetes.Interface) Config {
	return Config{Client: client, Verb: o.Verb, Group: o.Group, Resource: o.Resource, Subresource: o.Subresource,
		AllowTTL: o.AllowTTL, DenyTTL: o.DenyTTL, CacheSize: o.CacheSize}
}
