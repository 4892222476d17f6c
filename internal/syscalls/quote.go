package syscalls

import (
	"strconv"
	"strings"
)

// Output bounds: no rendered string, argv or parameter list grows past these.
const (
	maxStrOut  = 4096 // escaped bytes of one string
	maxArgv    = 64   // argv elements
	maxArgvOut = 8192 // escaped bytes of a whole argv
)

// quote renders b as a C string literal the way strace does, appending
// "..." when the data was truncated by the recorder or by the output bound.
func quote(b []byte, truncated bool) string {
	var sb strings.Builder
	sb.WriteByte('"')
	if escapeTo(&sb, b, maxStrOut) {
		truncated = true
	}
	sb.WriteByte('"')
	if truncated {
		sb.WriteString("...")
	}
	return sb.String()
}

// escape renders b with C escapes but without quotes, bounded like quote.
func escape(b []byte) string {
	var sb strings.Builder
	if escapeTo(&sb, b, maxStrOut) {
		sb.WriteString("...")
	}
	return sb.String()
}

// escapeTo writes b to sb with C escapes, stopping once limit bytes were
// written. It reports whether it stopped early.
func escapeTo(sb *strings.Builder, b []byte, limit int) (cut bool) {
	start := sb.Len()
	for i, c := range b {
		if sb.Len()-start >= limit {
			return true
		}
		switch c {
		case '"', '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case '\n':
			sb.WriteString(`\n`)
		case '\t':
			sb.WriteString(`\t`)
		case '\r':
			sb.WriteString(`\r`)
		case '\v':
			sb.WriteString(`\v`)
		case '\f':
			sb.WriteString(`\f`)
		default:
			if c >= 0x20 && c < 0x7f {
				sb.WriteByte(c)
				continue
			}
			// Octal like strace; pad to three digits when the next byte is
			// an octal digit so the escape cannot swallow it.
			oct := strconv.FormatUint(uint64(c), 8)
			if i+1 < len(b) && b[i+1] >= '0' && b[i+1] <= '7' {
				oct = strings.Repeat("0", 3-len(oct)) + oct
			}
			sb.WriteByte('\\')
			sb.WriteString(oct)
		}
	}
	return false
}

// hex renders v as 0x... ("0" for zero), like strace's %#lx.
func hex(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// pointer renders an address: NULL for zero, hex otherwise.
func pointer(v uint64) string {
	if v == 0 {
		return "NULL"
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// octal renders a file mode like C's %#03o, as strace does: 0644, 007, 000.
func octal(v uint64) string {
	s := "0"
	if v != 0 {
		s += strconv.FormatUint(v, 8)
	}
	if len(s) < 3 {
		s = strings.Repeat("0", 3-len(s)) + s
	}
	return s
}
