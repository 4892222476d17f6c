package syscalls

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

// maxParams bounds the parameter string of any call: two strings, an argv,
// a buffer and a handful of scalars.
const maxParams = 2*(maxStrOut+16) + maxArgvOut + maxStrOut + 8*64 + 4*(maxStrOut+16)

func FuzzFormat(f *testing.F) {
	f.Add(true, 257, uint64(0xffffffffffffff9c), uint64(0x1000), uint64(0o1101), int64(-13), true, []byte("/etc/passwd"), []byte("a\x00b"), false)
	f.Add(false, 42, uint64(3), uint64(0x1000), uint64(16), int64(-111), true, []byte{2, 0, 0, 1, 127, 0, 0, 1}, []byte{}, true)
	f.Add(true, 59, uint64(0x1000), uint64(0x2000), uint64(0x3000), int64(0), false, []byte("/bin/sh"), []byte("sh\x00-c\x00ls"), true)
	f.Add(true, 202, uint64(0xc000), uint64(0x189), uint64(1), int64(0), false, []byte{}, []byte{}, false)
	f.Add(false, -5, uint64(1), uint64(2), uint64(3), int64(-4096), true, []byte{0xff, 0xfe}, []byte{10, 0}, false)
	f.Add(true, 1<<30, uint64(1<<63), uint64(0), uint64(1), int64(1)<<62, true, []byte(nil), []byte(nil), true)
	// write(1, "\x1b[2J\n\xff", 6): terminal escapes and invalid UTF-8 in a buffer.
	f.Add(true, 1, uint64(1), uint64(0x1000), uint64(6), int64(6), true, []byte("\x1b[2J\n\xff"), []byte("\x1b[2J\n\xff"), false)
	// openat of a path with a newline and a DEL; arm64 numbers.
	f.Add(false, 56, uint64(0xffffffffffffff9c), uint64(0x1000), uint64(0), int64(-2), true, []byte("/tmp/a\nb\x7f"), []byte(nil), true)
	// connect to an AF_UNIX path with control characters.
	f.Add(true, 42, uint64(3), uint64(0x1000), uint64(12), int64(-111), true, []byte("\x01\x00/run/\t\r\x00x"), []byte(nil), false)
	f.Fuzz(func(t *testing.T, amd bool, nr int, a0, a1, a2 uint64, ret int64, finished bool, s1, s2 []byte, trunc bool) {
		arch := ArchARM64
		if amd {
			arch = ArchAMD64
		}
		var argv [][]byte
		if s2 != nil {
			for _, p := range strings.Split(string(s2), "\x00") {
				argv = append(argv, []byte(p))
			}
		}
		c := &Call{
			Nr: nr, Args: [6]uint64{a0, a1, a2, a2 ^ a0, a1 >> 3, a0 + a2},
			Ret: ret, Finished: finished,
			Str1: s1, Str2: s2, Str1Truncated: trunc,
			Argv: argv, ArgvTruncated: trunc,
			Sockaddr: s1, Buf: s2, BufTruncated: trunc,
		}
		name, params, r := arch.Format(c)
		if name == "" {
			t.Fatal("empty name")
		}
		if len(params) > maxParams {
			t.Fatalf("params are %d bytes, bound is %d", len(params), maxParams)
		}
		if len(r) > 512 {
			t.Fatalf("return value %q too long", r)
		}
		if name != arch.Name(nr) {
			t.Fatalf("name %q, arch.Name(%d) is %q", name, nr, arch.Name(nr))
		}
		if back, ok := arch.Number(name); ok && back != nr {
			t.Fatalf("name %q of nr %d maps back to %d", name, nr, back)
		}
		switch {
		case !finished:
			if r != "?" {
				t.Fatalf("unfinished call returned %q, want ?", r)
			}
		case RestoresContext(name):
			// rt_sigreturn's value is the interrupted context's, never an error.
			if want := fmt.Sprintf("%#x (restored)", uint64(ret)); r != want {
				t.Fatalf("rt_sigreturn's return %d rendered %q, want %q", ret, r, want)
			}
		case ret >= -4095 && ret <= -1:
			if want := strconv.FormatInt(ret, 10) + " " + ErrnoName(int(-ret)); r != want {
				t.Fatalf("error return %d rendered %q, want %q", ret, r, want)
			}
		case r == "?" || r == "":
			t.Fatalf("finished call with return %d rendered %q", ret, r)
		}
		// One record is one line of the text dump: nothing the traced
		// program passed may break it or inject terminal escapes.
		for what, out := range map[string]string{"params": params, "return value": r} {
			if !utf8.ValidString(out) {
				t.Fatalf("%s %q are not valid UTF-8", what, out)
			}
			if i := strings.IndexFunc(out, func(c rune) bool { return c < 0x20 || c == 0x7f }); i >= 0 {
				t.Fatalf("%s %q hold control character %q at %d", what, out, out[i], i)
			}
		}
		if got := FormatSockaddr(s1); len(got) > maxStrOut+64 {
			t.Fatalf("FormatSockaddr is %d bytes", len(got))
		}
	})
}

func TestFormatBoundedArgv(t *testing.T) {
	argv := make([][]byte, 10000)
	for i := range argv {
		argv[i] = []byte(strings.Repeat("x", 1000))
	}
	c := &Call{
		Nr: nr(t, ArchAMD64, "execve"), Args: [6]uint64{1, 2, 3},
		Str1: []byte(strings.Repeat("/", 1<<20)), Argv: argv,
	}
	_, params, _ := ArchAMD64.Format(c)
	if len(params) > maxParams {
		t.Errorf("params are %d bytes, bound is %d", len(params), maxParams)
	}
	if !strings.Contains(params, `"...`) || !strings.Contains(params, ", ...]") {
		t.Errorf("bounded output does not show truncation: %s", params[len(params)-40:])
	}
}
