package syscalls

import (
	"strings"
	"testing"
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
		if got := FormatSockaddr(s1); len(got) > maxStrOut+64 {
			t.Fatalf("FormatSockaddr is %d bytes", len(got))
		}
		if got := FormatSockaddrStrace(s1); len(got) > maxStrOut+128 {
			t.Fatalf("FormatSockaddrStrace is %d bytes", len(got))
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
