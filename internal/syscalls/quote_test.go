package syscalls

import (
	"strings"
	"testing"
)

func TestQuote(t *testing.T) {
	tests := []struct {
		in        string
		truncated bool
		want      string
	}{
		{"/etc/passwd", false, `"/etc/passwd"`},
		{"", false, `""`},
		{"hi\n", false, `"hi\n"`},
		{"a\tb\r\v\f", false, `"a\tb\r\v\f"`},
		{`say "x" \ y`, false, `"say \"x\" \\ y"`},
		{"\x00", false, `"\0"`},
		{"\x00A", false, `"\0A"`},
		{"\x001", false, `"\0001"`}, // padded so the digit is not swallowed
		{"\x1b[0m", false, `"\33[0m"`},
		{"\x7f\xff", false, `"\177\377"`},
		{"caf\xc3\xa9", false, `"caf\303\251"`}, // bytes, not runes, like strace
		{"\xc3(", false, `"\303("`},             // invalid UTF-8 is fine
		{"/usr/lib", true, `"/usr/lib"...`},
	}
	for _, tt := range tests {
		if got := quote([]byte(tt.in), tt.truncated); got != tt.want {
			t.Errorf("quote(%q, %v) = %s, want %s", tt.in, tt.truncated, got, tt.want)
		}
	}
}

func TestQuoteBounded(t *testing.T) {
	got := quote([]byte(strings.Repeat("\x01", 100000)), false)
	if len(got) > maxStrOut+16 {
		t.Errorf("quote of 100000 control bytes is %d bytes long, want <= %d", len(got), maxStrOut+16)
	}
	if !strings.HasSuffix(got, `"...`) {
		t.Errorf("bounded quote does not end in ...: %q", got[len(got)-10:])
	}
}

func TestNumberRendering(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{hex(0), "0"},
		{hex(255), "0xff"},
		{pointer(0), "NULL"},
		{pointer(0x7ffd1000), "0x7ffd1000"},
		{octal(0o644), "0644"},
		{octal(0o755), "0755"},
		{octal(0o4755), "04755"},
		{octal(0o7), "007"},
		{octal(0), "000"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
