package redact

import (
	"fmt"

	"github.com/alecthomas/kingpin/v2"

	"github.com/flightrec/flightrec_exporter/internal/flagx"
)

// Options are the redaction flags.
type Options struct {
	Enabled  *bool
	Patterns []string
}

// AddFlags registers --dump.redaction and --dump.redact.
func AddFlags(app *kingpin.Application) *Options {
	o := &Options{}
	o.Enabled = flagx.Bool(app.Flag("dump.redaction", "Hide secrets in dumps (true or false): values of flags like --password in command lines, KEY=value pairs whose key names a secret, Authorization and Cookie headers in buffers. Done in user space when a dump is made."), "dump.redaction", true)
	app.Flag("dump.redact", fmt.Sprintf("Pattern of a secret to hide in dumps (a Go regular expression; its first group, or the whole match, is replaced by %s). Repeatable; given, it replaces the built-in patterns, which %q stands for.", Mark, Builtin)).Default(Builtin).StringsVar(&o.Patterns)
	return o
}

// Redactor is the redactor the flags ask for; nil when redaction is off.
func (o *Options) Redactor() (*Redactor, error) {
	if !*o.Enabled {
		return nil, nil
	}
	r, err := New(o.Patterns)
	if err != nil {
		return nil, fmt.Errorf("--dump.redact: %w", err)
	}
	return r, nil
}

// Validate reports a pattern that does not compile.
func (o *Options) Validate() error {
	_, err := o.Redactor()
	return err
}
