// Package flagx has kingpin flag values whose errors name their flag:
// kingpin's own enum says "enum value must be one of …" without saying
// which flag was wrong.
package flagx

import (
	"fmt"
	"slices"
	"strings"

	"github.com/alecthomas/kingpin/v2"
	"github.com/alecthomas/units"
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

type bytesValue struct {
	name  string
	value *int64
}

func (b *bytesValue) Set(s string) error {
	n, err := units.ParseBase2Bytes(s)
	if err != nil || n <= 0 {
		return fmt.Errorf("--%s %q: must be a positive size such as 192MiB or 1GiB", b.name, s)
	}
	*b.value = int64(n)
	return nil
}

func (b *bytesValue) String() string { return units.Base2Bytes(*b.value).String() }

// Bytes makes flag take a size in bytes with a unit (KiB, MiB, GiB, or
// KB, MB, GB, which mean the same), def when not given.
func Bytes(flag *kingpin.FlagClause, name, def string) *int64 {
	var v int64
	flag.Default(def).SetValue(&bytesValue{name: name, value: &v})
	return &v
}
