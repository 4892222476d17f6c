package route

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flightrec/flightrec_exporter/internal/flagx"
)

// Options are the flags that find and reach the exporters of other nodes.
type Options struct {
	Selector   string  // label selector of the exporter's DaemonSet pods
	Namespace  string  // their namespace
	Scheme     *string // http or https
	CAFile     string  // CA that verifies peers over https
	ServerName string  // the name peers' certificates are verified for
}

// AddFlags registers the --dump.peer-* flags.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{}
	app.Flag("dump.peer-selector", "Label selector of this exporter's DaemonSet pods: a dump of a pod on another node is forwarded to the exporter there.").Default("app.kubernetes.io/name=flightrec-exporter").StringVar(&o.Selector)
	app.Flag("dump.peer-namespace", "Namespace of this exporter's DaemonSet pods.").Envar("POD_NAMESPACE").Default("").StringVar(&o.Namespace)
	o.Scheme = flagx.Enum(app.Flag("dump.peer-scheme", "How peers are reached: http or https (with TLS in --web.config.file)."), "dump.peer-scheme", "http", "http", "https")
	app.Flag("dump.peer-ca-file", "CA certificate that verifies peers over https; without it, the system's roots do.").Default("").StringVar(&o.CAFile)
	app.Flag("dump.peer-server-name", "Name peers' certificates are verified for over https (the name in the certificate of every exporter, e.g. flightrec-exporter.monitoring.svc); empty: the peer's address, the pod IP.").Default("").StringVar(&o.ServerName)
	return o
}

// Validate checks that the CA file can be used.
func (o *Options) Validate() error {
	_, err := o.Client()
	return err
}

// Client is the HTTP client for forwarded dumps. Over https a peer's
// certificate is always verified: against --dump.peer-ca-file or the
// system's roots, for --dump.peer-server-name or the peer's address. A
// forwarded request carries the caller's credentials; an unverified peer
// could be anyone.
func (o *Options) Client() (*http.Client, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if *o.Scheme == "https" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: o.ServerName}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--dump.peer-ca-file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--dump.peer-ca-file %s: no certificates", o.CAFile)
			}
			cfg.RootCAs = pool
		}
		tr.TLSClientConfig = cfg
	}
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}, nil
}
