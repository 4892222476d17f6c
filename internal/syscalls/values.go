package syscalls

import (
	"strconv"
	"strings"
)

// flagBit names one flag; a mask may cover several bits (O_SYNC), in which
// case it must come before the entries of its parts.
type flagBit struct {
	mask uint64
	name string
}

// flagSet renders a bit mask as NAME|NAME|0x<rest>.
type flagSet struct {
	zero string // rendering of 0; "0" when empty
	bits []flagBit
}

// format renders v; bits not covered by the set are appended in hex.
func (fs flagSet) format(v uint64) string {
	if v == 0 {
		if fs.zero != "" {
			return fs.zero
		}
		return "0"
	}
	var parts []string
	for _, f := range fs.bits {
		if f.mask != 0 && v&f.mask == f.mask {
			parts = append(parts, f.name)
			v &^= f.mask
		}
	}
	if v != 0 {
		parts = append(parts, hex(v))
	}
	return strings.Join(parts, "|")
}

// enum renders one of a set of constants; unknown values stay decimal.
type enum map[int64]string

// format renders v by name or in decimal.
func (e enum) format(v int64) string {
	if name, ok := e[v]; ok {
		return name
	}
	return strconv.FormatInt(v, 10)
}
