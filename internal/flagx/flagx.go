// Package flagx has kingpin flag values whose errors name their flag:
// kingpin's own enum says "enum value must be one of …" without saying
// which flag was wrong.
package flagx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
)

type enum struct {
	name    string
	value   *string
	allowed []string
}

func (e *enum) Set(s string) error {
	if !slices.Contains(e.allowed, s) {
		return fmt.Errorf("--%s %q: must be %s", e.name, s, strings.Join(e.allowed, ", "))
	}
	*e.value = s
	return nil
}

func (e *enum) String() string { return *e.value }

// Enum makes flag take one of allowed, def when not given.
func Enum(flag *kingpin.FlagClause, name, def string, allowed ...string) *string {
	v := def
	flag.Default(def).SetValue(&enum{name: name, value: &v, allowed: allowed})
	return &v
}

type boolean struct {
	name  string
	value *bool
}

func (b *boolean) Set(s string) error {
	switch s {
	case "true":
		*b.value = true
	case "false":
		*b.value = false
	default:
		return fmt.Errorf("--%s %q: must be true or false", b.name, s)
	}
	return nil
}

func (b *boolean) String() string { return fmt.Sprint(*b.value) }

// Bool makes flag take true or false (written out: --name=false), def when
// not given.
func Bool(flag *kingpin.FlagClause, name string, def bool) *bool {
	v := def
	flag.Default(fmt.Sprint(def)).SetValue(&boolean{name: name, value: &v})
	return &v
}
